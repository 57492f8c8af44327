"""Typed errors survive nameko's serialisation with their structured details intact."""

from nameko.exceptions import serialize

from crm_common.errors import Conflict, ValidationFailed, error_from_remote


def _across_rpc(exc):
    data = serialize(exc)
    return error_from_remote(data["exc_path"], data["exc_args"])


def test_a_conflicts_matches_keep_their_nulls_numbers_and_booleans():
    matches = [{"id": None, "score": 0.95, "strong": True, "reasons": ["phone"], "record": {"version": 2}}]
    rebuilt = _across_rpc(Conflict("likely duplicate", matches))
    assert isinstance(rebuilt, Conflict) and rebuilt.matches == matches
    assert rebuilt.problem()["matches"] == matches and rebuilt.detail == "likely duplicate"


def test_a_conflict_without_matches_has_an_empty_list():
    assert _across_rpc(Conflict("busy")).matches == []


def test_validation_errors_cross_unchanged():
    errors = [{"field": "email", "message": "must be an email address"}]
    assert _across_rpc(ValidationFailed("1 invalid field(s)", errors)).errors == errors
