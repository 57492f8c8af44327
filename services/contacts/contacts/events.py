"""Every event the contacts service publishes, by name. Payloads are in the README's "Events
published" table; each event has a consumer, since an event no queue takes holds back its
record's later events in the outbox."""

# A company or contact: `<type>_created` (the record), `<type>_updated` (the record plus `changes`:
# field names; also for server-kept fields, owner changes and merges), `<type>_deleted`
# ({id, version, deleted_by, ...}).
CREATED, UPDATED, DELETED, MERGED = "created", "updated", "deleted", "merged"


def customer_event(subject_type: str, what: str) -> str:
    """`contact_created`, `company_merged`, ...: the name of what happened to a company or contact."""
    return f"{subject_type}_{what}"


INTERACTION_LOGGED = "interaction_logged"  # the interaction
INTERACTION_UPDATED = "interaction_updated"  # the interaction plus `changes`
INTERACTION_DELETED = "interaction_deleted"  # {id, version, deleted_by}

# Ownership and the pool (besides contact_updated, which every owner change also publishes).
CONTACT_CLAIMED = "contact_claimed"  # the contact, plus from_owner_id (null) and reason
CONTACT_RELEASED = "contact_released"  # the contact, plus from_owner_id and reason
CONTACT_ASSIGNED = "contact_assigned"  # the contact, plus from_owner_id, reason and (bulk) hand_over_id
CONTACT_RECLAIMED = "contact_reclaimed"  # the contact, plus from_owner_id, reason and rule_id
POOL_RECLAIM_WARNED = "pool_reclaim_warned"  # {id, contact_id, owner_id, display_name, rule_id, rule_name, ...}
CUSTOMERS_HANDED_OVER = "customers_handed_over"  # the finished hand-over job, with moved_by_owner

# Personal data.
CONTACT_ERASED = "contact_erased"  # {id, version (the tombstone's), erasure_id}
ERASURE_COMPLETED = "erasure_completed"  # the erasure record, status completed
