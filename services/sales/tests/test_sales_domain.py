"""Sales rules, without any I/O."""

import pytest

from crm_common.errors import ValidationFailed
from sales import domain


def test_the_default_pipeline_has_ordered_stages_with_win_probabilities():
    pipeline = domain.default_pipeline("t")
    assert pipeline["id"] == domain.DEFAULT_PIPELINE_ID
    assert [s["probability"] for s in pipeline["stages"][:4]] == [10, 25, 50, 75]
    assert all(0 <= s["probability"] <= 100 for s in pipeline["stages"])


def test_a_new_deal_starts_open_in_the_first_stage_with_its_history():
    deal = domain.new_deal(
        {"title": "X", "amount": "10.00", "currency": "CNY", "contact_id": "c"},
        domain.default_pipeline("t"),
        "usr-1",
        "t1",
    )
    assert deal["status"] == "open" and deal["stage_id"] == "qualification" and deal["owner_id"] == "usr-1"
    assert deal["stage_history"] == [{"stage_id": "qualification", "at": "t1"}]


def test_a_stage_outside_the_pipeline_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        domain.new_deal({"title": "X", "stage_id": "moon"}, domain.default_pipeline("t"), "u", "t")
    assert caught.value.errors[0]["field"] == "stage_id"
