"""Events the sales service publishes.

Consumed: contacts.contact_merged / company_merged (deals move to the survivor; each is a
deal_updated), contacts.contact_erased.
"""

DEAL_CREATED = "deal_created"  # payload: the deal as stored
DEAL_UPDATED = "deal_updated"  # payload: the deal after the change, plus `changes`: the changed field names
# payload: {contact_id, erasure_id, service: "sales", detail: {deals_kept, scrubbed}} after contacts.contact_erased
PERSONAL_DATA_ERASED = "personal_data_erased"
