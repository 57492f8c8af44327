"""The notifications service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

NOTIFICATIONS = "notifications"
CONTACT_OWNERS = "contact_owners"  # projection of contacts events: who owns which customer
# Contacts whose personal data was erased: later events about them notify nobody.
ERASED_SUBJECTS = "erased_subjects"
# Emails to customers (ticket acknowledgements, staff replies, satisfaction surveys), queued for
# the email channel (issue 7) to send: id `<event_id>:<kind>`.
CUSTOMER_MESSAGES = "customer_messages"

SPECS = (
    CollectionSpec(
        NOTIFICATIONS,
        (
            Index(("recipient_id", "created_at")),
            Index(("recipient_id", "read")),
            # Which notifications are about a contact (its own, its deals' and tickets'): for the
            # personal-data export and erasure.
            Index(("contact_id",)),
            Index(("ref.id",)),
        ),
    ),
    CollectionSpec(CONTACT_OWNERS),
    CollectionSpec(ERASED_SUBJECTS),
    # the sender's work list; a contact's messages (export, erasure)
    CollectionSpec(CUSTOMER_MESSAGES, (Index(("status", "created_at")), Index(("contact_id", "created_at")))),
)
