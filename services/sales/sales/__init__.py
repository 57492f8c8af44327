"""The sales service: pipelines and deals (tasks, orders, forecasts and value grading grow here)."""
