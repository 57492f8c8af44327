"""The search routes: the one search box, and the admin's reindex and consistency-check jobs that
rebuild and repair the index from the source services. They share api.py's blueprint and helpers;
the search service decides what a query means, who may start a job and what a job holds."""

import json

from flask import request, url_for

from crm_common.errors import BadRequest, NotFound

from .api import _body_object, blueprint, call, collection, list_query, single

SERVICE = "search"
# Query parameters that carry JSON: the gateway parses them, so a malformed one is named here.
JSON_PARAMS = {
    "filter": 'a JSON object of field -> value or list of values, e.g. {"owner_id": "usr-1"}',
    "range": 'a JSON object of field -> [from, before], e.g. {"amount": [100, null]}',
}


def _search_query() -> dict:
    """The query string as the service's search takes it, with `filter` and `range` parsed."""
    query: dict = request.args.to_dict()
    for name, shape in JSON_PARAMS.items():
        if name in query:
            try:
                query[name] = json.loads(query[name])
            except (ValueError, RecursionError):  # RecursionError: nested thousands deep
                raise BadRequest(f"{name} is not valid JSON: it must be {shape}") from None
    return query


@blueprint.get("/search")
def search():
    return collection(call(SERVICE, "search", query=_search_query()))


# Reindex and consistency-check jobs: one job store in the search service, told apart by `kind`


def _job(reindex_id: str, kind: str) -> dict:
    """The job, or NotFound when it is of the other kind: each path answers for its own jobs."""
    job = call(SERVICE, "get_reindex", reindex_id=reindex_id)
    if job.get("kind", "reindex") != kind:
        raise NotFound(f"no {kind} job {reindex_id}")
    return job


@blueprint.post("/search/reindex")
def start_reindex():
    body = _body_object(False, ("types",))
    job = call(SERVICE, "start_reindex", types=body.get("types"))
    return single(job, 202, url_for("api.get_reindex", reindex_id=job["id"]))


@blueprint.get("/search/reindex")
def list_reindexes():
    return collection(call(SERVICE, "list_reindexes", query=list_query()))


@blueprint.get("/search/reindex/<reindex_id>")
def get_reindex(reindex_id: str):
    return single(_job(reindex_id, "reindex"))


@blueprint.post("/search/consistency-check")
def check_consistency():
    body = _body_object(False, ("types", "fix"))
    job = call(SERVICE, "check_consistency", types=body.get("types"), fix=body.get("fix", False))
    return single(job, 202, url_for("api.get_consistency_check", reindex_id=job["id"]))


@blueprint.get("/search/consistency-check/<reindex_id>")
def get_consistency_check(reindex_id: str):
    return single(_job(reindex_id, "consistency"))
