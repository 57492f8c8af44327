"""Sales' lead scores on contacts: the server-kept `lead_score`, the lifecycle stage moved only
forward with a timeline entry, and an older score never winning over a newer one."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts.service import ContactsService
from contacts.store import SPECS
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store

REP = Caller("u1", ("sales_rep",), ("t1",), teammate_ids=("u1",))
SYSTEM = Caller("system", ("system",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def as_(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def scored(store: DocumentStore, contact_id: str, score: int, stage: str | None, occurred_at: str | None = None):
    payload = {"subject_type": "contact", "id": contact_id, "score": score, "breakdown": [], "lifecycle_stage": stage}
    body = new_event("lead_scored", "sales", payload, actor="u1").as_dict()
    if occurred_at:
        body["occurred_at"] = occurred_at
    as_(store, SYSTEM).on_lead_scored(body)


def summaries(store: DocumentStore, contact_id: str) -> list[str]:
    return [e["summary"] for e in as_(store, REP).get_timeline("contact", contact_id, {})["data"]]


def test_a_score_is_kept_on_the_contact_and_moves_a_lead_forward(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Ann"})
    assert contact["lead_score"] is None
    scored(store, contact["id"], 25, None)
    current = as_(store, REP).get_contact(contact["id"])
    assert (current["lead_score"], current["lifecycle_stage"], current["version"]) == (25, "lead", 2)
    scored(store, contact["id"], 72, "sales_qualified")
    current = as_(store, REP).get_contact(contact["id"])
    assert (current["lead_score"], current["lifecycle_stage"]) == (72, "sales_qualified")
    assert current["lifecycle_history"][-1] == {
        "stage": "sales_qualified",
        "from_stage": "lead",
        "at": current["updated_at"],
        "by": "system",
    }
    assert "Lead score 72: stage sales_qualified" in summaries(store, contact["id"])
    updates = [r["event"] for r in store[OUTBOX].iterate(None, [("id", 1)])][-1]
    assert updates["event_type"] == "contact_updated"
    assert updates["payload"]["changes"] == ["lead_score", "lifecycle_stage"]
    assert as_(store, REP).list_contacts({"filter": {"lead_score": {"gte": 70}}})["data"][0]["id"] == contact["id"]


@pytest.mark.parametrize(
    ("held", "called_for"), [("sales_qualified", "marketing_qualified"), ("customer", "sales_qualified")]
)
def test_a_score_never_moves_the_stage_back_or_past_the_qualifying_stages(
    store: DocumentStore, held: str, called_for: str
) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Bo", "lifecycle_stage": held})
    scored(store, contact["id"], 80, called_for)
    current = as_(store, REP).get_contact(contact["id"])
    assert (current["lead_score"], current["lifecycle_stage"]) == (80, held)
    assert not any(s.startswith("Lead score") for s in summaries(store, contact["id"]))


def test_an_older_score_arriving_late_does_not_win(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Cy"})
    scored(store, contact["id"], 45, "marketing_qualified")
    scored(store, contact["id"], 10, None, occurred_at="2000-01-01T00:00:00.000000Z")
    assert as_(store, REP).get_contact(contact["id"])["lead_score"] == 45


def test_clients_cannot_write_the_score(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as refused:
        as_(store, REP).create_contact({"first_name": "Di", "lead_score": 99})
    assert refused.value.errors == [{"field": "lead_score", "message": "is set by the server and cannot be written"}]
