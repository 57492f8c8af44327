"""Orders: purchase history through the API, batches and won deals (a mixin of SalesService)."""


class OrdersRpc:
    pass
