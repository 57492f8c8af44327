"""The caller's reach: which records a role lets them see and change (the visibility table of the API).

The table is the same for every service, so it lives here once; each service maps its own records
onto it (which field names the owner, which the service team) and enforces it on every read,
list, search and write. A record out of reach is reported as not found, never as forbidden.
"""

from dataclasses import dataclass

from .caller import Caller
from .errors import Forbidden

ADMIN = "admin"
MANAGER = "manager"
SALES_REP = "sales_rep"
SUPPORT_AGENT = "support_agent"
VIEWER = "viewer"
ROLES = (ADMIN, MANAGER, SALES_REP, SUPPORT_AGENT, VIEWER)
SYSTEM = "system"  # events and timers inside the platform: not a role anyone can hold

# Who may create or change customer records (contacts, companies, deals): viewers only read,
# support agents only read the customers linked to their tickets.
CUSTOMER_WRITERS = (ADMIN, MANAGER, SALES_REP)
# Who may create or change tickets.
TICKET_WRITERS = (ADMIN, MANAGER, SUPPORT_AGENT, SALES_REP)


@dataclass(frozen=True)
class Reach:
    """What a caller may see. `everything` short-cuts the rest (admins and the system)."""

    user_id: str
    everything: bool
    owner_ids: frozenset[str]  # records owned by these users
    pool: bool  # records with no owner: the customer pool
    team_ids: frozenset[str]  # service teams whose tickets (and the customers linked to them) are in reach

    def sees_owner(self, owner_id: str | None, shared_with: list | tuple = (), poolable: bool = True) -> bool:
        """An owned record in reach: owned by someone in reach, shared with the caller, or (when
        the record kind has a pool, as customers do) ownerless and the caller sees the pool."""
        if self.everything:
            return True
        if self.user_id in (shared_with or ()):
            return True
        if owner_id is None:
            return poolable and self.pool
        return owner_id in self.owner_ids

    def sees_team(self, team_id: str | None) -> bool:
        return self.everything or (team_id is not None and team_id in self.team_ids)

    def tokens(self) -> list[str] | None:
        """The access tokens of the caller, matched against a record's tokens (see `record_tokens`);
        None when the caller sees everything."""
        if self.everything:
            return None
        # `owner:` and `user:` stay apart: a manager sees what their members own, not what is
        # merely shared with or assigned to them.
        tokens = {f"owner:{u}" for u in self.owner_ids} | {f"user:{self.user_id}"}
        tokens |= {f"team:{t}" for t in self.team_ids}
        if self.pool:
            tokens.add("pool")
        return sorted(tokens)


def reach_of(caller: Caller) -> Reach:
    roles = set(caller.roles)
    if roles & {ADMIN, SYSTEM}:
        return Reach(caller.user_id, True, frozenset(), True, frozenset())
    owners: set[str] = set()
    teams: set[str] = set()
    pool = False
    if roles & {SALES_REP, MANAGER}:
        owners.add(caller.user_id)
        pool = True
    if MANAGER in roles:
        owners |= set(caller.managed_user_ids)
        teams |= set(caller.managed_team_ids)
    if VIEWER in roles:
        # "The same scope as their team's sales reps": what the members of their teams own, and the pool.
        owners |= set(caller.teammate_ids) | {caller.user_id}
        pool = True
    if SUPPORT_AGENT in roles:
        teams |= set(caller.team_ids)
    return Reach(caller.user_id, False, frozenset(owners), pool, frozenset(teams))


# Matches no record (the store grammar refuses an empty $or).
MATCH_NOTHING: dict = {"id": {"$in": []}}


def owner_filter(
    reach: Reach, owner_field: str = "owner_id", shared_field: str | None = "shared_with", pool: bool = True
) -> dict | None:
    """A store filter selecting the owned records in reach (the store-side twin of
    `Reach.sees_owner`); None when the caller sees everything. `pool=False` for record kinds
    without a pool (deals): an ownerless one is then in nobody's reach but admins'."""
    if reach.everything:
        return None
    alternatives: list[dict] = []
    if reach.owner_ids:
        alternatives.append({owner_field: {"$in": sorted(reach.owner_ids)}})
    if reach.pool and pool:
        alternatives.append({owner_field: None})
    if shared_field:
        alternatives.append({shared_field: {"$contains": reach.user_id}})
    if not alternatives:
        return MATCH_NOTHING
    return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}


def tokens_filter(reach: Reach, field: str = "access") -> dict | None:
    """A store filter selecting documents whose `field` (a list of `record_tokens`) meets the
    caller's tokens; None when the caller sees everything."""
    tokens = reach.tokens()
    if tokens is None:
        return None
    return {field: {"$containsAny": tokens}}


def record_tokens(
    owner_id: str | None = None,
    shared_with: list | tuple = (),
    team_ids: list | tuple = (),
    user_ids: list | tuple = (),
    poolable: bool = True,
) -> list[str]:
    """The access tokens a record carries: its owner (or the pool), the users it is shared with or
    assigned to, and the service teams it belongs to. A caller sees it when the two sets meet
    (`Reach.tokens`); the result equals `Reach.sees_owner` / `sees_team` on the same facts."""
    tokens = {f"user:{u}" for u in (*(shared_with or ()), *(user_ids or ())) if u}
    tokens |= {f"team:{t}" for t in (team_ids or ()) if t}
    if owner_id:
        tokens.add(f"owner:{owner_id}")
    elif poolable:
        tokens.add("pool")
    return sorted(tokens)


def and_filters(*filters: dict | None) -> dict | None:
    present = [f for f in filters if f]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


def require_role(caller: Caller, allowed: tuple[str, ...], action: str) -> None:
    """Forbidden when none of the caller's roles may do `action` at all (a role rule, never a
    record rule: a record out of reach is NotFound)."""
    if not (set(caller.roles) & (set(allowed) | {ADMIN, SYSTEM})):
        raise Forbidden(f"your role may not {action}")


def may_assign_owner(caller: Caller, owner_id: str | None, creating: bool = True) -> bool:
    """Who may give a record to `owner_id`: admins anyone; managers themselves, the members of the
    teams they manage, or the pool; anyone else only themselves (or the pool, when creating:
    releasing an existing record to the pool is its own action, with its own rules)."""
    roles = set(caller.roles)
    if roles & {ADMIN, SYSTEM}:
        return True
    if MANAGER in roles and (owner_id is None or owner_id in caller.managed_user_ids):
        return True
    if owner_id == caller.user_id:
        return True
    return owner_id is None and creating


def may_change_owner(caller: Caller, current_owner: str | None, new_owner: str | None) -> bool:
    """Whether an update may move a visible record from `current_owner` to `new_owner`: only admins
    and managers reassign (a record shared with someone is not theirs to take)."""
    if current_owner == new_owner:
        return True
    roles = set(caller.roles)
    if roles & {ADMIN, SYSTEM}:
        return True
    if MANAGER not in roles:
        return False
    # A manager moves only what their members own (or the pool), not what is merely shared with them.
    taken_from_reach = current_owner in (None, caller.user_id) or current_owner in caller.managed_user_ids
    return taken_from_reach and may_assign_owner(caller, new_owner, creating=False)
