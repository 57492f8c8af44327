"""Mentions: a colleague named in an interaction's summary or a staff comment on a ticket is told
(notice kind `mention`). The web UI writes a mention as `@[Display name](user:<user_id>)`, which
reads fine as plain text too; `plain` shows it as `@Display name` wherever the markup would be
noise (a notice's body, the reply emailed to a customer). A mixin of NotificationsService.

Who was told of a mention in a text is kept (MENTIONS_SEEN, id `interaction:<id>:<user_id>` or
`comment:<id>:<user_id>`): editing an interaction tells only the people it newly mentions, and a
redelivered event tells nobody twice."""

import re

from crm_common.runtime.events import handle_event

from .store import MENTIONS_SEEN

MENTION = re.compile(r"@\[([^\[\]\n]{1,100})\]\(user:([^()\s]{1,64})\)")
MAX_MENTIONED = 20  # more names than that in one text is a list, not a call for attention
MENTION_TITLE = "You were mentioned"
EXCERPT = 200  # characters of the text a mention notice quotes


def mentioned_user_ids(text: str | None) -> list[str]:
    """The distinct users a text mentions, in the order it names them (the first 20)."""
    return list(dict.fromkeys(user_id for _, user_id in MENTION.findall(text or "")))[:MAX_MENTIONED]


def plain(text: str | None) -> str:
    """The text with each mention shown as `@Display name`."""
    return MENTION.sub(lambda m: f"@{m.group(1)}", text or "")


class MentionAlerts:
    """Tells the people a text mentions (an interaction's summary, a ticket comment), once per text and person."""

    def _tell_mentioned(
        self, tx, event, text: str | None, heading: str, ref_type: str, record: dict, mentioned_in: str
    ) -> None:
        """Notify the users `text` mentions who were not told of a mention in it yet (never the
        author). `mentioned_in` names what holds the text (`interaction:<id>`, `comment:<id>`),
        `record` what the notice points to; `heading` starts the body, before an excerpt."""
        mentioned = [
            user_id
            for user_id in mentioned_user_ids(text)
            if user_id != event.actor and tx[MENTIONS_SEEN].get(f"{mentioned_in}:{user_id}") is None
        ]
        if not mentioned:
            return
        body = f"{heading}: {plain(text)[:EXCERPT]}"
        key = f"mention:{mentioned_in}"
        self._notify(tx, event, "mention", {"mentioned": mentioned}, MENTION_TITLE, body, ref_type, record, key=key)
        for user_id in mentioned:
            tx[MENTIONS_SEEN].put(
                {
                    "id": f"{mentioned_in}:{user_id}",
                    "user_id": user_id,
                    "event_id": event.event_id,
                    "told_at": event.occurred_at,
                }
            )

    def _interaction_mentions(self, tx, event) -> None:
        interaction = event.payload
        contact_id = interaction.get("contact_id")
        if contact_id and self._erased(tx, contact_id):
            return  # its summary names the person: nobody is told
        self._tell_mentioned(
            tx,
            event,
            interaction.get("summary"),
            interaction.get("subject") or interaction.get("kind") or "Interaction",
            "interaction",
            {"id": interaction["id"], "contact_id": contact_id},
            f"interaction:{interaction['id']}",
        )

    @handle_event("contacts", "interaction_logged")
    def on_interaction_logged(self, tx, event) -> None:
        self._interaction_mentions(tx, event)

    @handle_event("contacts", "interaction_updated")
    def on_interaction_updated(self, tx, event) -> None:
        # Every edit (a merge or an erasure moving or scrubbing it too): only new mentions tell anyone.
        self._interaction_mentions(tx, event)
