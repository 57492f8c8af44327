"""The pure picks of a roster: round robin and least loaded, availability and caps."""

from service_desk import assignment


def agent(user_id: str, available: bool = True, max_open: int | None = None) -> dict:
    return {"user_id": user_id, "available": available, "max_open": max_open}


ROSTER = [agent("a"), agent("b", available=False), agent("c", max_open=2), agent("d")]


def test_round_robin_takes_the_next_eligible_agent_after_the_last_one_and_wraps() -> None:
    loads = {"a": 0, "c": 0, "d": 0}
    picks, last = [], None
    for _ in range(5):
        last = assignment.round_robin(ROSTER, loads, last)
        picks.append(last)
    assert picks == ["a", "c", "d", "a", "c"]  # b is away


def test_round_robin_skips_agents_at_their_cap_and_restarts_when_the_last_one_left_the_roster() -> None:
    assert assignment.round_robin(ROSTER, {"c": 2}, "a") == "d"
    assert assignment.round_robin(ROSTER, {"c": 1}, "a") == "c"
    assert assignment.round_robin(ROSTER, {}, "gone") == "a"
    assert assignment.round_robin(ROSTER, {}, "d", exclude=("a",)) == "c"


def test_round_robin_comes_back_to_the_last_agent_when_nobody_else_is_free() -> None:
    roster = [agent("a"), agent("b", available=False)]
    assert assignment.round_robin(roster, {}, "a") == "a"
    assert assignment.round_robin(roster, {}, "a", exclude=("a",)) is None


def test_least_loaded_takes_the_fewest_open_tickets_and_breaks_ties_by_roster_order() -> None:
    assert assignment.least_loaded(ROSTER, {"a": 3, "c": 1, "d": 1}) == "c"
    assert assignment.least_loaded(ROSTER, {"a": 1, "c": 1, "d": 1}) == "a"
    assert assignment.least_loaded(ROSTER, {"a": 3, "c": 2, "d": 5}) == "a"  # c is full, b away
    assert assignment.least_loaded(ROSTER, {"a": 0}, exclude=("a",)) == "c"


def test_nobody_eligible_or_manual_picks_nobody() -> None:
    away = [agent("a", available=False), agent("b", max_open=1)]
    assert assignment.least_loaded(away, {"b": 1}) is None
    assert assignment.round_robin(away, {"b": 1}, None) is None
    assert assignment.round_robin([], {}, None) is None
    assert assignment.pick("manual", ROSTER, {}, None) is None
    assert assignment.pick("round_robin", ROSTER, {}, "a") == "c"
    assert assignment.pick("least_loaded", ROSTER, {"a": 1}, None) == "c"
