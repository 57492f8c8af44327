"""The gateway's generic resource routes call RPC methods by name and keyword: every one must exist
on the owning service with those parameters, or the route would answer 500."""

import importlib
import inspect

import pytest

from gateway.api import RESOURCES

SERVICE_CLASSES = {
    "contacts": "contacts.service:ContactsService",
    "sales": "sales.service:SalesService",
    "service_desk": "service_desk.service:ServiceDeskService",
    "notifications": "notifications.service:NotificationsService",
}


def _service_class(service: str) -> type:
    module, name = SERVICE_CLASSES[service].split(":")
    return getattr(importlib.import_module(module), name)


def _calls(noun: str, plural: str, deletable: bool) -> dict[str, set[str]]:
    key = f"{noun}_id"
    calls = {
        f"create_{noun}": {"data"},
        f"list_{plural}": {"query"},
        f"get_{noun}": {key},
        f"update_{noun}": {key, "data", "expected_version"},
    }
    if deletable:
        calls[f"delete_{noun}"] = {key, "expected_version"}
    return calls


@pytest.mark.parametrize("path", sorted(RESOURCES))
def test_every_generic_route_names_a_real_rpc_method_and_its_parameters(path: str) -> None:
    service, noun, plural, deletable = RESOURCES[path]
    cls = _service_class(service)
    for method, keywords in _calls(noun, plural, deletable).items():
        assert hasattr(cls, method), f"{service} has no {method} for /{path}"
        parameters = set(inspect.signature(getattr(cls, method)).parameters) - {"self"}
        assert keywords <= parameters, f"{service}.{method} lacks {keywords - parameters}"
