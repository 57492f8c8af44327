"""The caller context the gateway passes with every RPC call: who is asking, and for which request."""

import json
from dataclasses import dataclass

SYSTEM_USER = "system"


@dataclass(frozen=True)
class Caller:
    """A verified user as the gateway saw them. Team facts come from the gateway, which owns teams:
    `team_ids` are the teams the user belongs to, `managed_team_ids` the teams they manage,
    `managed_user_ids` the members of those teams, `teammate_ids` the members of their own teams."""

    user_id: str
    roles: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()
    request_id: str | None = None
    managed_team_ids: tuple[str, ...] = ()
    managed_user_ids: tuple[str, ...] = ()
    teammate_ids: tuple[str, ...] = ()

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def to_header(self) -> str:
        return json.dumps(
            {
                "user_id": self.user_id,
                "roles": list(self.roles),
                "team_ids": list(self.team_ids),
                "managed_team_ids": list(self.managed_team_ids),
                "managed_user_ids": list(self.managed_user_ids),
                "teammate_ids": list(self.teammate_ids),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_context(cls, context_data: dict) -> "Caller":
        """Rebuild from nameko context data; calls with no caller (events, timers) act as the system."""
        request_id = context_data.get("request_id") or None
        raw = context_data.get("caller")
        if not raw:
            return cls(SYSTEM_USER, ("system",), (), request_id)
        data = json.loads(raw)
        return cls(
            data["user_id"],
            tuple(data.get("roles", ())),
            tuple(data.get("team_ids", ())),
            request_id,
            tuple(data.get("managed_team_ids", ())),
            tuple(data.get("managed_user_ids", ())),
            tuple(data.get("teammate_ids", ())),
        )
