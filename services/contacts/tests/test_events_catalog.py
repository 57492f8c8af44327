"""The catalog of published events in events.py, the README that documents their payloads and
the code that emits them agree."""

import ast
import re
from pathlib import Path

from contacts import events

PACKAGE = Path(events.__file__).parent
README = (PACKAGE.parent / "README.md").read_text()


def published_names() -> set[str]:
    names = {value for name, value in vars(events).items() if name.isupper() and "_" in value}
    customer = {events.CREATED, events.UPDATED, events.DELETED, events.MERGED}
    return names | {events.customer_event(t, what) for t in ("contact", "company") for what in customer}


def test_every_published_event_is_documented_in_the_readme() -> None:
    section = README.split("## Events published", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert published_names() <= documented, published_names() - documented


def test_events_are_emitted_by_catalog_name_only() -> None:
    literal = re.compile(r"self\.emit\(\s*tx,\s*f?[\"']")
    offenders = [p.name for p in PACKAGE.glob("*.py") if literal.search(p.read_text())]
    assert offenders == []


# Every published event has a consumer: the outbox relay holds an event no queue takes, and
# re-publishes it every cycle. The services are separate packages: their sources are read as text.
SERVICES_DIR = PACKAGE.parent.parent
HANDLER = re.compile(r"@handle_event\(\s*[\"']([a-z_]+)[\"']\s*,\s*[\"']([a-z_]+)[\"']\s*\)")


def consumed() -> set[tuple[str, str]]:
    return {match for path in SERVICES_DIR.glob("*/*/*.py") for match in HANDLER.findall(path.read_text())}


def catalog_of(events_py: Path) -> set[str]:
    """The event names an events.py catalog declares: its upper-case module constants."""
    tree = ast.parse(events_py.read_text())
    return {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
    }


def service_name(package: Path) -> str:
    (name,) = re.findall(r"^    name = [\"']([a-z_]+)[\"']", (package / "service.py").read_text(), re.M)
    return name


def test_every_event_contacts_publishes_has_a_consumer() -> None:
    unconsumed = {name for name in published_names() if ("contacts", name) not in consumed()}
    assert unconsumed == set()


# Events whose consumer is not a service: the gateway's live event stream reads this one.
CONSUMED_OUTSIDE_THE_SERVICES = {("notifications", "notification_created")}


def test_every_event_the_other_services_catalog_has_a_consumer() -> None:
    handled = consumed() | CONSUMED_OUTSIDE_THE_SERVICES
    catalogs = [p.parent for p in SERVICES_DIR.glob("*/*/events.py") if p.parent != PACKAGE]
    assert len(catalogs) >= 4  # sales, service desk, notifications, search
    unconsumed = {
        (service_name(package), name)
        for package in catalogs
        for name in catalog_of(package / "events.py")
        if (service_name(package), name) not in handled
    }
    assert unconsumed == set()
