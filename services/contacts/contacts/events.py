"""Events the contacts service publishes; payload is the record as stored (plus `changes` on update)."""

COMPANY_CREATED = "company_created"  # payload: the company
COMPANY_UPDATED = "company_updated"  # payload: the company after the change, plus `changes`: field names
COMPANY_DELETED = "company_deleted"  # payload: {id, version, deleted_by}
CONTACT_CREATED = "contact_created"  # payload: the contact, with its computed display_name
CONTACT_UPDATED = "contact_updated"  # payload: the contact after the change, plus `changes`: field names
CONTACT_DELETED = "contact_deleted"  # payload: {id, version, deleted_by}
