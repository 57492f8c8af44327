"""The catalog of published events in events.py, the README that documents their payloads and
the code that emits them agree."""

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
