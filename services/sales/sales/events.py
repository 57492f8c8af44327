"""Events the sales service publishes."""
SOURCE = "sales"

DEAL_CREATED = "deal_created"  # payload: the deal as stored
