"""Who gets a ticket: the pure picks of a service team's roster (round robin, least loaded),
respecting each agent's availability and their cap on open tickets."""

# A ticket on its assignee's plate (domain.WORKING_STATUSES) is what `least_loaded` counts and
# `max_open` caps; the loads are counted by the caller.
METHODS = ("round_robin", "least_loaded")
ASSIGNMENTS = (*METHODS, "manual")


def eligible(agent: dict, load: int) -> bool:
    """Available, and below their `max_open` (None: no cap)."""
    cap = agent.get("max_open")
    return bool(agent.get("available")) and (cap is None or load < cap)


def round_robin(agents: list[dict], loads: dict[str, int], last: str | None, exclude: tuple = ()) -> str | None:
    """The next eligible agent after `last` in roster order, wrapping around (from the top when
    `last` is None or no longer on the roster); `last` themself comes round again last."""
    ids = [a["user_id"] for a in agents]
    start = ids.index(last) + 1 if last in ids else 0
    for offset in range(len(agents)):
        agent = agents[(start + offset) % len(agents)]
        if agent["user_id"] not in exclude and eligible(agent, loads.get(agent["user_id"], 0)):
            return agent["user_id"]
    return None


def least_loaded(agents: list[dict], loads: dict[str, int], exclude: tuple = ()) -> str | None:
    """The eligible agent with the fewest open tickets; ties go to the first on the roster."""
    best: tuple[int, int] | None = None
    chosen = None
    for position, agent in enumerate(agents):
        load = loads.get(agent["user_id"], 0)
        if agent["user_id"] in exclude or not eligible(agent, load):
            continue
        if best is None or (load, position) < best:
            best, chosen = (load, position), agent["user_id"]
    return chosen


def pick(method: str, agents: list[dict], loads: dict[str, int], last: str | None, exclude: tuple = ()) -> str | None:
    """The agent `method` picks, or None (manual assignment, nobody eligible)."""
    if method == "round_robin":
        return round_robin(agents, loads, last, exclude)
    if method == "least_loaded":
        return least_loaded(agents, loads, exclude)
    return None
