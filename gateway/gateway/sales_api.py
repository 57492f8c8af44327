"""The sales routes beyond the generic resources of api.py: won deals' orders, order batches,
lead scores, sales settings and reports. They share api.py's blueprint and helpers."""

import csv
import io

from flask import current_app, jsonify, request

from crm_common.errors import BadRequest, ValidationFailed

from . import uploads
from .api import blueprint, call, expected_version, json_body, single
from .identity.store import TEAMS

# Orders (create, list, read, update are generic resources of api.py; orders are never deleted)

BATCH_CSV_TYPES = ("text/csv", "application/csv")


def _dry_run_param() -> bool | None:
    """`?dry_run=`; None when not given."""
    if "dry_run" not in request.args:
        return None
    raw = request.args.get("dry_run", "").strip().lower()
    if raw not in ("true", "false", "1", "0") or len(request.args.getlist("dry_run")) > 1:
        raise BadRequest("dry_run must be true or false, given once")
    return raw in ("true", "1")


def _csv_orders() -> list[dict]:
    """The rows of a CSV body (a header row of order field names, `?encoding=` optional); empty cells are
    left out, so the service sees them as not given."""
    text = uploads.decode_csv(request.get_data(), request.args.get("encoding"))
    try:
        return [
            {name: cell for name, cell in row.items() if name and cell not in ("", None)}
            for row in csv.DictReader(io.StringIO(text))
        ]
    except csv.Error as exc:
        raise ValidationFailed("the file cannot be read", [{"field": "file", "message": str(exc)}]) from None


@blueprint.post("/orders/batch")
def import_orders():
    """Orders in one all-or-nothing batch: JSON `{"orders": [...], "dry_run": false}` or a text/csv body;
    `?dry_run=true` works for both (with a JSON body saying it too, the two must agree)."""
    query_dry_run = _dry_run_param()
    if request.mimetype in BATCH_CSV_TYPES:
        rows, dry_run = _csv_orders(), bool(query_dry_run)
    else:
        body = json_body()
        if not isinstance(body, dict):
            raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
        unknown = [{"field": k, "message": "is not a known field"} for k in body if k not in ("orders", "dry_run")]
        if not isinstance(body.get("dry_run", False), bool):
            unknown.append({"field": "dry_run", "message": "must be true or false"})
        if unknown:
            raise ValidationFailed(f"{len(unknown)} invalid field(s)", unknown)
        if "dry_run" in body and query_dry_run is not None and body["dry_run"] != query_dry_run:
            raise BadRequest("dry_run is given in the query and the body with different values")
        rows = body.get("orders")
        dry_run = body["dry_run"] if "dry_run" in body else bool(query_dry_run)
    result = call("sales", "import_orders", rows=rows, dry_run=dry_run)
    return jsonify(result), 200 if dry_run else 201


# Customer value and churn risk


@blueprint.get("/reports/customer-value")
def customer_value_report():
    return jsonify(call("sales", "customer_value_report", query=_report_query()))


@blueprint.get("/reports/churn-risk")
def churn_risk_report():
    return jsonify(call("sales", "churn_risk_report", query=_report_query()))


@blueprint.post("/grading-runs")
def run_grading():
    """Regrade every customer now (admins): after a settings change, or to see today's figures."""
    return jsonify(call("sales", "run_grading"))


@blueprint.get("/sales-settings")
def get_sales_settings():
    return single(call("sales", "get_sales_settings"))


@blueprint.patch("/sales-settings")
def update_sales_settings():
    return single(call("sales", "update_sales_settings", data=json_body(), expected_version=expected_version()))


# Lead scoring (the rules are a generic resource of api.py)


@blueprint.get("/contacts/<resource_id>/lead-score")
def contact_lead_score(resource_id: str):
    return jsonify(call("sales", "get_lead_score", contact_id=resource_id))


# Reports and quotas (quotas are a generic resource of api.py)


def _report_query() -> dict:
    """The report's query parameters, each given once; the sales service checks names and values."""
    query = {}
    for name in request.args:
        values = request.args.getlist(name)
        if len(values) != 1:
            raise BadRequest(f"give {name} once")
        query[name] = values[0]
    return query


def _teams() -> dict:
    """Every team with its members: the gateway owns teams; sales keeps those in the caller's reach."""
    teams = current_app.extensions["directory"].store[TEAMS].iterate(None, [("name", 1)])
    return {team["id"]: {"name": team["name"], "member_ids": team.get("member_ids", [])} for team in teams}


@blueprint.get("/reports/forecast")
def forecast_report():
    return jsonify(call("sales", "forecast_report", query=_report_query(), teams=_teams()))


@blueprint.get("/reports/funnel")
def funnel_report():
    return jsonify(call("sales", "funnel_report", query=_report_query(), teams=_teams()))


@blueprint.get("/reports/leaderboard")
def leaderboard_report():
    return jsonify(call("sales", "leaderboard_report", query=_report_query(), teams=_teams()))
