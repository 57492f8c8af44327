"""Events the sales service publishes."""

DEAL_CREATED = "deal_created"  # payload: the deal as stored
