"""Customer value and churn risk: RFM grades, the Pareto view and churn alerts (a mixin of SalesService)."""


class GradingRpc:
    pass
