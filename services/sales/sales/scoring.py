"""Lead scoring: explainable points from profile fit and engagement, moving lifecycle stages
(a mixin of SalesService)."""


class ScoringRpc:
    pass
