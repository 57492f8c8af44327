"""Business calendars: the open hours SLA clocks count in (time zone, working hours per weekday,
holidays, make-up working days, an official holiday preset); admins write them, everyone reads
them, and one an SLA policy uses cannot be deleted (a mixin of ServiceDeskService)."""

from datetime import date
from typing import Any

from nameko.rpc import rpc

from crm_common.access import ADMIN, ROLES, require_role
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id
from crm_common.listing import parse_list_query
from crm_common.schema import ISO_DATE, Field, validate

from . import business_time
from .business_time import WEEKDAYS, BusinessCalendar
from .domain import DONE_STATUSES, stamp
from .store import BUSINESS_CALENDARS, SLA_POLICIES, TICKETS

CALENDAR_FIELDS = {
    "name": Field("text", required=True, max_length=200),
    "time_zone": Field("text", required=True, max_length=64, nullable=False),
    "holiday_preset": Field("choice", choices=tuple(business_time.PRESETS)),
}
# Checked here rather than by crm_common.schema: nested lists of "HH:MM" ranges, lists of dates.
NESTED_FIELDS = ("working_hours", "makeup_hours", "holidays", "workdays")
CALENDAR_SERVER_OWNED = ("id", "version", "created_at", "updated_at", "created_by")
CALENDAR_FILTERABLE = ("name", "time_zone", "holiday_preset", "created_at")
CALENDAR_SORTABLE = ("name", "created_at")
MAX_RANGES_PER_DAY = 4
MAX_DATES = 1000
# Dates outside these years are typing mistakes, not holidays anyone plans for.
FIRST_YEAR, LAST_YEAR = 2000, 2100


# validation: the calendar is checked whole, as it would be after the change


def _ranges_problem(ranges: Any) -> str | None:
    if not isinstance(ranges, list):
        return 'must be a list of ["HH:MM", "HH:MM"] ranges'
    if len(ranges) > MAX_RANGES_PER_DAY:
        return f"must hold at most {MAX_RANGES_PER_DAY} ranges"
    try:
        business_time.day_ranges(ranges)
    except ValueError as exc:
        return str(exc)
    return None


def _working_hours_errors(hours: Any) -> tuple[dict, list[dict]]:
    """The week with every day present (a missing day is closed), and the problems."""
    if not isinstance(hours, dict):
        return {}, [{"field": "working_hours", "message": "must be an object of days (mon..sun) to ranges"}]
    errors = [
        {"field": f"working_hours.{day}", "message": "is not a day of the week (mon, tue, ... sun)"}
        for day in hours
        if day not in WEEKDAYS
    ]
    for day in WEEKDAYS:
        problem = _ranges_problem(hours.get(day, []))
        if problem:
            errors.append({"field": f"working_hours.{day}", "message": problem})
    week = {day: hours.get(day, []) for day in WEEKDAYS}
    if not errors and not any(week.values()):
        errors.append({"field": "working_hours", "message": "must open on at least one day of the week"})
    return week, errors


def _dates_errors(name: str, value: Any) -> tuple[list[str], list[dict]]:
    """Sorted distinct dates, and the problems."""
    if not isinstance(value, list):
        return [], [{"field": name, "message": "must be a list of dates (YYYY-MM-DD)"}]
    if len(value) > MAX_DATES:
        return [], [{"field": name, "message": f"must hold at most {MAX_DATES} dates"}]
    errors = []
    for i, item in enumerate(value, 1):
        try:
            if not isinstance(item, str) or not ISO_DATE.match(item):
                raise ValueError
            if not FIRST_YEAR <= date.fromisoformat(item).year <= LAST_YEAR:
                errors.append({"field": name, "message": f"item {i} ({item}) must be in {FIRST_YEAR}-{LAST_YEAR}"})
        except ValueError:
            errors.append({"field": name, "message": f"item {i} must be a date (YYYY-MM-DD)"})
    return (sorted(set(value)) if not errors else []), errors


def checked_calendar(data: Any, current: dict | None = None) -> dict:
    """The calendar's fields after a create (`current` None) or a partial change, normalised (all
    seven days present, dates sorted and distinct); ValidationFailed listing every problem."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    errors: list[dict] = []
    try:
        plain = validate(
            {k: v for k, v in data.items() if k not in NESTED_FIELDS},
            CALENDAR_FIELDS,
            partial=current is not None,
            server_owned=CALENDAR_SERVER_OWNED,
        )
    except ValidationFailed as exc:
        errors += exc.errors
        plain = {}
    defaults = {"holiday_preset": None, "makeup_hours": None, "holidays": [], "workdays": []}
    base = current if current is not None else defaults
    fields = {name: base.get(name) for name in (*CALENDAR_FIELDS, *NESTED_FIELDS)}
    fields.update(plain)
    zone_name = data.get("time_zone")
    if isinstance(zone_name, str) and "time_zone" not in {e["field"] for e in errors}:
        try:
            business_time.zone(zone_name)
        except ValueError:
            errors.append({"field": "time_zone", "message": "must be an IANA time zone such as Asia/Shanghai"})
    if "working_hours" in data or current is None:
        if "working_hours" not in data:
            errors.append({"field": "working_hours", "message": "is required"})
        else:
            fields["working_hours"], problems = _working_hours_errors(data["working_hours"])
            errors += problems
    if "makeup_hours" in data:
        makeup = data["makeup_hours"]
        problem = None if makeup is None else _ranges_problem(makeup)
        if makeup == []:
            problem = "must hold at least one range, or be null (the Monday hours)"
        if problem:
            errors.append({"field": "makeup_hours", "message": problem})
        fields["makeup_hours"] = makeup
    for name in ("holidays", "workdays"):
        if name in data:
            fields[name], problems = _dates_errors(name, data[name])
            errors += problems
    if not errors:
        both = sorted(set(fields["holidays"]) & set(fields["workdays"]))
        if both:
            errors.append({"field": "workdays", "message": f"{', '.join(both)} also listed as holidays"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    try:
        BusinessCalendar.from_document(fields)  # the whole calendar reads as one
    except ValueError as exc:
        raise ValidationFailed(str(exc), [{"field": "working_hours", "message": str(exc)}]) from None
    return fields


class CalendarsRpc:
    """RPC entrypoints of the business calendars (SlaRpc._sla_calendar reads them for the clocks)."""

    def _existing_calendar(self, source, calendar_id: str) -> dict:
        doc = source[BUSINESS_CALENDARS].get(calendar_id) if isinstance(calendar_id, str) else None
        if doc is None:
            raise NotFound(f"business calendar {calendar_id} not found")
        return doc

    def _refuse_taken_name(self, tx, name: str, calendar_id: str | None = None) -> None:
        taken = [doc for doc in tx[BUSINESS_CALENDARS].find({"name": name}, None, 2).items if doc["id"] != calendar_id]
        if taken:
            raise Conflict(f"a business calendar named {name!r} exists", [{"id": taken[0]["id"], "name": name}])

    @rpc
    def create_business_calendar(self, data: dict) -> dict:
        require_role(self.caller, (ADMIN,), "create business calendars")
        fields = checked_calendar(data)
        now = stamp(self._now())
        doc = {"id": new_id(), **fields, "created_by": self.caller.user_id, "created_at": now, "updated_at": now}
        with self.store.transaction() as tx:
            self._refuse_taken_name(tx, doc["name"])
            try:
                return tx[BUSINESS_CALENDARS].insert(doc)
            except Conflict:  # the same name, written meanwhile
                raise Conflict(f"a business calendar named {doc['name']!r} exists") from None

    @rpc
    def get_business_calendar(self, business_calendar_id: str) -> dict:
        require_role(self.caller, ROLES, "read business calendars")
        return self._existing_calendar(self.store, business_calendar_id)

    @rpc
    def list_business_calendars(self, query: dict | None = None) -> dict:
        require_role(self.caller, ROLES, "read business calendars")
        q = parse_list_query(
            query or {}, filterable=CALENDAR_FILTERABLE, sortable=CALENDAR_SORTABLE, default_sort="name"
        )
        page = self.store[BUSINESS_CALENDARS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_business_calendar(
        self, business_calendar_id: str, data: dict, expected_version: int | None = None
    ) -> dict:
        """A partial change: each given field replaces the stored one whole (`working_hours` is the
        whole week). Unchanged (no new version) when nothing really changes. The tickets still
        worked on whose SLA counts in this calendar are due for the SLA timer at once (their
        `sla_next_check_at` becomes now, in the same transaction): its next run reschedules their
        running clocks in the new hours, holidays and make-up days."""
        require_role(self.caller, (ADMIN,), "change business calendars")
        with self.store.transaction() as tx:
            current = self._existing_calendar(tx, business_calendar_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"business calendar {business_calendar_id} is at version {current['version']}")
            fields = checked_calendar(data, current)
            if all(current.get(name) == value for name, value in fields.items()):
                return current
            if fields["name"] != current["name"]:
                self._refuse_taken_name(tx, fields["name"], business_calendar_id)
            now = stamp(self._now())
            updated = {**current, **fields, "updated_at": now}
            try:
                stored = tx[BUSINESS_CALENDARS].replace(updated, current["version"])
            except Conflict:  # the same name, written meanwhile
                raise Conflict(f"a business calendar named {fields['name']!r} exists") from None
            self._recheck_tickets_in(tx, business_calendar_id, now)
            return stored

    def _recheck_tickets_in(self, tx, calendar_id: str, now: str) -> None:
        """Make the SLA timer recompute, at its next run, every ticket still worked on whose SLA
        counts in the calendar (no event: only the timer's work list changes)."""
        running = {"sla.calendar_id": calendar_id, "status": {"$nin": list(DONE_STATUSES)}}
        for ticket in list(tx[TICKETS].iterate(running)):
            if ticket.get("sla_next_check_at") is None or ticket["sla_next_check_at"] > now:
                tx[TICKETS].replace({**ticket, "sla_next_check_at": now}, ticket["version"])

    @rpc
    def delete_business_calendar(self, business_calendar_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, (ADMIN,), "delete business calendars")
        with self.store.transaction() as tx:
            current = self._existing_calendar(tx, business_calendar_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"business calendar {business_calendar_id} is at version {current['version']}")
            users = tx[SLA_POLICIES].find({"calendar_id": business_calendar_id}, [("position", 1)], 5).items
            if users:
                names = ", ".join(p.get("name", p["id"]) for p in users)
                raise Conflict(
                    f"business calendar {current['name']!r} is used by SLA policies ({names}) and cannot be deleted",
                    [{"id": p["id"], "name": p.get("name")} for p in users],
                )
            if not tx[BUSINESS_CALENDARS].delete(business_calendar_id, expected_version):
                raise NotFound(f"business calendar {business_calendar_id} not found")
