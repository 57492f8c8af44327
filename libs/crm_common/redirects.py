"""Redirects left by merged records: where a merged-away id lives now.

A service that keeps references to another service's records (deals to contacts, tickets to
companies) records each merge it hears of as a document `{"id": "<type>:<old id>", "merged_into":
<new id>}`. Merges chain (A into B, then B into C) and their events arrive in any order, so the
current id is found by following the chain; a bound on the hops keeps a corrupt cycle finite.
"""

from .store import Collection

MAX_HOPS = 20
CUSTOMER_REFERENCES = (("contact", "contact_id"), ("company", "company_id"))


def redirect_id(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"


def surviving_id(redirects: Collection, subject_type: str, subject_id: str) -> str:
    """The id the record lives on as now (itself when it was never merged)."""
    for _ in range(MAX_HOPS):
        merged = redirects.get(redirect_id(subject_type, subject_id))
        if merged is None:
            break
        subject_id = merged["merged_into"]
    return subject_id


def moved_references(redirects: Collection, record: dict) -> dict:
    """The record's `contact_id` / `company_id` that were merged away, with the ids they live on as."""
    moved = {}
    for subject_type, key in CUSTOMER_REFERENCES:
        if record.get(key):
            survivor = surviving_id(redirects, subject_type, record[key])
            if survivor != record[key]:
                moved[key] = survivor
    return moved
