"""The sales part of the OpenAPI document: pipelines, deals, orders, tasks, quotas, lead scoring,
settings and reports. Built from the blocks of gateway.openapi, which imports this module lazily."""

from .openapi import (
    CURRENCIES,
    DECIMAL,
    ID,
    IDS,
    MONEY,
    NS,
    SERVER,
    TS,
    S,
    _closed,
    _collection,
    _equals,
    _item,
    _json,
    _obj,
    _operation,
    _page,
    _record,
    _subset,
    _text,
)

DEAL_FIELDS = dict(
    title=_text(required=True),
    amount=DECIMAL,
    currency={"enum": list(CURRENCIES)},
    pipeline_id=ID,
    stage_id=ID,
    contact_id=_text(64, required=True),
    company_id=ID,
    owner_id={**_text(64, nullable=False), "description": "every deal has an owner: the creator unless given"},
    shared_with=IDS,
    expected_close_date={"type": ["string", "null"], "format": "date"},
)
DEAL_UPDATABLE = ("title", "amount", "currency", "stage_id", "expected_close_date", "owner_id", "shared_with")


# Pipelines and deals


def _deal_paths() -> list:
    status = {"enum": ["open", "won", "lost"]}
    return [
        _operation("get", "/pipelines", "sales", "Pipelines with their stages", {200: _json(_page("Pipeline"))}),
        *_item("sales", "/pipelines/{id}", "Pipeline"),
        *_collection(
            "sales",
            "/deals",
            "Deal",
            "DealInput",
            _equals("owner_id", "contact_id", "company_id", "pipeline_id", "stage_id", status=status),
        ),
        *_item("sales", "/deals/{id}", "Deal", "DealUpdate"),
    ]


def _deal_schemas() -> dict:
    return {
        "DealInput": _closed(["title", "amount", "currency", "contact_id"], **DEAL_FIELDS),
        "DealUpdate": _closed([], **_subset(DEAL_FIELDS, DEAL_UPDATABLE)),
        "Deal": _record(
            {**DEAL_FIELDS, "amount": MONEY},
            status={"enum": ["open", "won", "lost"]},
            lost_reason=NS,
            created_by=S,
            stage_history={"type": "array", "items": _obj(["stage_id", "at"], stage_id=S, at=TS)},
        ),
        "Pipeline": _obj(
            ["id", "name", "stages"],
            **SERVER,
            name=S,
            stages={
                "type": "array",
                "items": _obj(
                    ["id", "name", "probability"],
                    id=S,
                    name=S,
                    probability={"type": "integer", "minimum": 0, "maximum": 100},
                ),
            },
        ),
    }


# Orders


# Tasks


# Customer value and churn risk


# Lead scoring


# Reports and quotas


def sales_paths() -> list:
    return [*_deal_paths()]


def sales_schemas() -> dict:
    return {**_deal_schemas()}
