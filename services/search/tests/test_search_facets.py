"""A sales rep never sees another rep's customer, deal or order: not in hits, not in the total,
not in any facet (owner, stage, grade), not even when filtering for them (no broker)."""

import json

import pytest

from crm_common.caller import Caller

ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1", "u3"))
NOW = "2026-11-23T09:00:00.000000Z"
FACETS = "type,owner_id,stage_id,value_grade"


def contact(contact_id: str, owner: str, grade: str) -> dict:
    return {
        "id": contact_id,
        "version": 1,
        "first_name": "Findme",
        "last_name": contact_id,
        "display_name": f"Findme {contact_id}",
        "owner_id": owner,
        "value_grade": grade,
        "created_at": NOW,
        "updated_at": NOW,
    }


def deal(deal_id: str, owner: str, stage: str) -> dict:
    return {
        "id": deal_id,
        "version": 1,
        "title": f"Findme {deal_id}",
        "amount": "10.00",
        "currency": "CNY",
        "owner_id": owner,
        "stage_id": stage,
        "status": "open",
        "created_at": NOW,
        "updated_at": NOW,
    }


@pytest.fixture
def indexed(deliver) -> None:
    deliver("contacts", "contact_created", contact("own-a", "u1", "A"))
    deliver("contacts", "contact_created", contact("own-b", "u1", "B"))
    deliver("contacts", "contact_created", contact("other-a", "u3", "A"))
    deliver("contacts", "contact_created", contact("other-c", "u3", "C"))
    deliver("sales", "deal_created", deal("own-deal", "u1", "s-qualify"))
    deliver("sales", "deal_created", deal("other-deal", "u3", "s-won"))
    deliver("sales", "deal_created", deal("other-deal-2", "u3", "s-proposal"))


def ask(search, caller: Caller, **query) -> dict:
    return search(caller).search({"q": "findme", "facets": FACETS, "limit": 200, **query})


def test_a_rep_counts_and_facets_only_their_own_records(search, indexed) -> None:
    result = ask(search, REP)
    assert {h["id"] for h in result["data"]} == {"own-a", "own-b", "own-deal"}
    assert result["total"] == 3
    assert result["facets"] == {
        "type": {"contact": 2, "deal": 1},
        "owner_id": {"u1": 3},
        "stage_id": {"s-qualify": 1, "": 2},
        "value_grade": {"A": 1, "B": 1, "": 1},
    }


def test_filtering_for_another_reps_records_finds_and_counts_nothing(search, indexed) -> None:
    for flt in ({"owner_id": "u3"}, {"stage_id": ["s-won", "s-proposal"]}, {"value_grade": "C"}):
        result = ask(search, REP, filter=json.dumps(flt))
        assert (result["data"], result["total"]) == ([], 0)
        assert all(counts == {} for counts in result["facets"].values())
    browse = ask(search, REP, q="", filter=json.dumps({"value_grade": ["A"]}))
    assert [h["id"] for h in browse["data"]] == ["own-a"] and browse["facets"]["owner_id"] == {"u1": 1}


def test_an_admin_counts_everyone(search, indexed) -> None:
    result = ask(search, ADMIN)
    assert result["total"] == 7
    assert result["facets"]["owner_id"] == {"u1": 3, "u3": 4}
    assert result["facets"]["stage_id"] == {"s-qualify": 1, "s-won": 1, "s-proposal": 1, "": 4}
