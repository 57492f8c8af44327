"""Cross-cutting code shared by every CRM service and the gateway; never domain logic."""
