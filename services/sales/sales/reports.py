"""Sales reports and quotas: forecast, funnel, leaderboard, read from the deal rollups (a mixin of SalesService)."""


class ReportsRpc:
    pass
