"""The sales routes beyond the generic resources of api.py: won deals' orders, order batches,
lead scores, sales settings and reports. They share api.py's blueprint and helpers."""

from flask import jsonify, request

from .api import blueprint, call, collection, expected_version, json_body, list_query, single

# Orders


# Tasks


# Customer value and churn risk


# Lead scoring


# Reports and quotas
