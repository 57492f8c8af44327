"""Greeting campaigns to segments: the campaigns (admins and managers write them), the timer that
turns each due occurrence into one delivery per segment member, and unsubscribe links (a mixin of
NotificationsService; the calendars and rules are greetings.py).

Exactly once across instances: each member's delivery has the unique dedupe key
`campaign:<id>:<occurrence date>:<contact_id>` (a duplicate means another instance wrote it), and
each occurrence is worked through by one instance at a time under a claim (`campaign_runs`, a
lease renewed page by page with a version check), which also remembers how far through the
segment it got, so an instance that dies is taken over where it stopped."""

import hashlib
import hmac
import logging
import os
import re
import time as monotonic_clock
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, MANAGER, require_role
from crm_common.config import float_setting
from crm_common.errors import BadRequest, Conflict, NotFound, PreconditionFailed, ServiceUnavailable, ValidationFailed
from crm_common.ids import new_id
from crm_common.listing import parse_list_query
from crm_common.runtime.rpc import ServiceRpc
from crm_common.schema import Field, validate

from . import delivery_rules, greetings, template_rules
from .delivery_rules import stamp
from .store import CAMPAIGN_RUNS, CAMPAIGNS, DELIVERIES, OPT_OUTS

log = logging.getLogger(__name__)

CAMPAIGN_TIMER_SECONDS = float_setting("CAMPAIGN_TIMER_SECONDS", 30.0)
# An occurrence's claim lapses this long after its holder last reported progress (it died).
CAMPAIGN_LEASE_SECONDS = float_setting("CAMPAIGN_LEASE_SECONDS", 300.0)
MEMBERS_PAGE = 200
CAMPAIGN_WRITERS = (ADMIN, MANAGER)
CHANNELS = ("email", "sms")
KINDS = ("holiday", "birthday", "anniversary", "one_off")
DEV_UNSUBSCRIBE_SECRET = "dev-only-unsubscribe-secret"  # set NOTIFICATIONS_UNSUBSCRIBE_SECRET in production

CAMPAIGN_FIELDS = {
    "name": Field("text", required=True, max_length=200),
    "description": Field("text", max_length=2000),
    "kind": Field("choice", required=True, choices=KINDS, nullable=False),
    "holiday": Field("choice", choices=tuple(greetings.HOLIDAYS)),
    "send_at": Field("date"),
    "local_time": Field("text", max_length=5, nullable=False),
    "time_zone": Field("text", max_length=64, nullable=False),
    "segment_id": Field("id", required=True, max_length=64),
    "channel": Field("choice", choices=CHANNELS, nullable=False),
    "template_key": Field("text", max_length=64),
    "active": Field("bool", nullable=False),
    "throttle_per_minute": Field("int", nullable=False),
    "quiet_hours": Field("object"),
    "anniversary_field": Field("text", max_length=100),
}
CAMPAIGN_DEFAULTS = {
    "description": None,
    "holiday": None,
    "send_at": None,
    "local_time": "09:00",
    "time_zone": greetings.DEFAULT_TIME_ZONE,
    "channel": "email",
    "template_key": None,
    "active": True,
    "throttle_per_minute": 60,
    "quiet_hours": dict(greetings.DEFAULT_QUIET_HOURS),
    "anniversary_field": None,
}
SERVER_OWNED = ("id", "version", "created_at", "updated_at", "created_by")
FILTERABLE = ("name", "kind", "holiday", "channel", "segment_id", "active", "created_at")
SORTABLE = ("name", "created_at", "updated_at")
MAX_THROTTLE = 10_000
GREETING_TEMPLATES = tuple(key for key in template_rules.CATALOG if key.startswith("greeting_"))
# Whom a greeting addresses when the contact has no name.
NAMELESS = {"en": "there", "zh-CN": "客户"}
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$")


def checked_campaign(data: Any, current: dict | None = None) -> dict:
    """The campaign's fields after a create (`current` None) or a partial change, defaults filled
    in; ValidationFailed listing every problem, including those between fields."""
    plain = validate(data, CAMPAIGN_FIELDS, partial=current is not None, server_owned=SERVER_OWNED)
    fields = {**CAMPAIGN_DEFAULTS, **(current or {}), **plain}
    fields = {name: fields.get(name) for name in CAMPAIGN_FIELDS}
    errors = []
    kind = fields["kind"]
    if kind == "holiday" and not fields["holiday"]:
        errors.append({"field": "holiday", "message": "is required for a holiday campaign"})
    if kind == "one_off" and not fields["send_at"]:
        errors.append({"field": "send_at", "message": "is required for a one-off campaign (the date it goes out)"})
    if greetings.clock(fields["local_time"]) is None:
        errors.append({"field": "local_time", "message": 'must be a wall-clock time "HH:MM"'})
    if greetings.zone(fields["time_zone"]) is None:
        errors.append({"field": "time_zone", "message": "must be an IANA time zone such as Asia/Shanghai"})
    if not 1 <= fields["throttle_per_minute"] <= MAX_THROTTLE:
        errors.append({"field": "throttle_per_minute", "message": f"must be between 1 and {MAX_THROTTLE}"})
    quiet = fields["quiet_hours"]
    if quiet is not None and (
        set(quiet) != {"start", "end"} or None in (greetings.clock(quiet["start"]), greetings.clock(quiet["end"]))
    ):
        errors.append({"field": "quiet_hours", "message": 'must be {"start": "HH:MM", "end": "HH:MM"} or null'})
    template_key = template_key_of(fields)
    if template_key not in GREETING_TEMPLATES:
        errors.append({"field": "template_key", "message": f"must be one of {', '.join(GREETING_TEMPLATES)}"})
    elif template_key == "greeting_holiday" and not fields["holiday"]:
        errors.append({"field": "holiday", "message": "is required by the greeting_holiday template (holiday_name)"})
    elif template_key == "greeting_anniversary" and kind != "anniversary":
        errors.append({"field": "template_key", "message": "greeting_anniversary is for anniversary campaigns"})
    if fields["anniversary_field"] is not None and not FIELD_PATH.match(fields["anniversary_field"]):
        errors.append({"field": "anniversary_field", "message": "must be a field path such as custom_fields.since"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    return fields


def template_key_of(campaign: dict) -> str:
    """The template a campaign renders: its own, else the one of its kind (a one-off campaign
    defaults to greeting_holiday)."""
    if campaign.get("template_key"):
        return campaign["template_key"]
    return "greeting_holiday" if campaign["kind"] in ("holiday", "one_off") else f"greeting_{campaign['kind']}"


# unsubscribe links


def _unsubscribe_secret() -> bytes:
    """The signing secret of unsubscribe links: the development default only under
    CRM_ENV=development; elsewhere an unset secret stops campaigns and unsubscribes (503) rather
    than let anyone forge links."""
    secret = os.environ.get("NOTIFICATIONS_UNSUBSCRIBE_SECRET")
    if secret:
        return secret.encode()
    if os.environ.get("CRM_ENV", "production") == "development":
        return DEV_UNSUBSCRIBE_SECRET.encode()
    raise ServiceUnavailable("NOTIFICATIONS_UNSUBSCRIBE_SECRET is not set: unsubscribe links cannot be signed")


def unsubscribe_token(contact_id: str, channel: str) -> str:
    """`<contact_id>.<channel>.<hex HMAC-SHA256(secret, "<contact_id>:<channel>")>`: unguessable,
    and tied to one contact and channel."""
    signature = hmac.new(_unsubscribe_secret(), f"{contact_id}:{channel}".encode(), hashlib.sha256).hexdigest()
    return f"{contact_id}.{channel}.{signature}"


def verified_unsubscribe(token: Any) -> tuple[str, str] | None:
    """(contact_id, channel) of a genuine token, else None."""
    if not isinstance(token, str) or len(token) > 300 or token.count(".") != 2:
        return None
    contact_id, channel, _ = token.split(".")
    if not contact_id or channel not in CHANNELS:
        return None
    return (contact_id, channel) if hmac.compare_digest(token, unsubscribe_token(contact_id, channel)) else None


def unsubscribe_url(contact_id: str, channel: str) -> str:
    base = (os.environ.get("CRM_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/api/v1/unsubscribe?token={quote(unsubscribe_token(contact_id, channel))}"


class _Lost(Exception):
    """Another instance holds (or finished) this occurrence: stop working on it."""


class CampaignsRpc:
    """RPC entrypoints of greeting campaigns, the campaign timer and unsubscribe."""

    contacts = ServiceRpc("contacts")

    def _existing_campaign(self, source, campaign_id: Any) -> dict:
        doc = source[CAMPAIGNS].get(campaign_id) if isinstance(campaign_id, str) else None
        if doc is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return doc

    @rpc
    def create_campaign(self, data: dict) -> dict:
        require_role(self.caller, CAMPAIGN_WRITERS, "create campaigns")
        fields = checked_campaign(data)
        now = stamp(self._now())
        doc = {"id": new_id(), **fields, "created_by": self.caller.user_id, "created_at": now, "updated_at": now}
        with self.store.transaction() as tx:
            return tx[CAMPAIGNS].insert(doc)

    @rpc
    def get_campaign(self, campaign_id: str) -> dict:
        require_role(self.caller, CAMPAIGN_WRITERS, "read campaigns")
        return self._existing_campaign(self.store, campaign_id)

    @rpc
    def list_campaigns(self, query: dict | None = None) -> dict:
        require_role(self.caller, CAMPAIGN_WRITERS, "read campaigns")
        q = parse_list_query(query or {}, filterable=FILTERABLE, sortable=SORTABLE, booleans=("active",))
        page = self.store[CAMPAIGNS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_campaign(self, campaign_id: str, data: dict, expected_version: int | None = None) -> dict:
        """A partial change, checked whole; unchanged (no new version) when nothing really changes.
        Deliveries already queued keep their words and times."""
        require_role(self.caller, CAMPAIGN_WRITERS, "change campaigns")
        with self.store.transaction() as tx:
            current = self._existing_campaign(tx, campaign_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"campaign {campaign_id} is at version {current['version']}")
            fields = checked_campaign(data, current)
            if all(current.get(name) == value for name, value in fields.items()):
                return current
            return tx[CAMPAIGNS].replace({**current, **fields, "updated_at": stamp(self._now())}, current["version"])

    @rpc
    def delete_campaign(self, campaign_id: str, expected_version: int | None = None) -> None:
        """Deletes the campaign and cancels its deliveries still queued (sent ones stay in the log)."""
        require_role(self.caller, CAMPAIGN_WRITERS, "delete campaigns")
        with self.store.transaction() as tx:
            current = self._existing_campaign(tx, campaign_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"campaign {campaign_id} is at version {current['version']}")
            self._cancel_queued(tx, {"campaign_id": campaign_id})
            tx[CAMPAIGNS].delete(campaign_id, current["version"])

    def _cancel_queued(self, tx, flt: dict) -> int:
        now = stamp(self._now())
        cancelled = 0
        for delivery in list(tx[DELIVERIES].iterate({**flt, "status": "queued"})):
            tx[DELIVERIES].replace({**delivery, "status": "cancelled", "updated_at": now}, delivery["version"])
            cancelled += 1
        return cancelled

    # unsubscribe

    @rpc
    def unsubscribe(self, token: str) -> dict:
        """The public unsubscribe link (no sign-in: the token is the proof). Records the opt-out
        and cancels the contact's greetings on that channel still queued. Idempotent."""
        verified = verified_unsubscribe(token)
        if verified is None:
            raise BadRequest("this unsubscribe link is not valid")
        contact_id, channel = verified
        with self.store.transaction() as tx:
            opt_out_id = f"{contact_id}:{channel}"
            if tx[OPT_OUTS].get(opt_out_id) is None:
                tx[OPT_OUTS].put(
                    {"id": opt_out_id, "contact_id": contact_id, "channel": channel, "created_at": stamp(self._now())}
                )
            self._cancel_queued(tx, {"contact_id": contact_id, "channel": channel, "kind": "greeting"})
        return {"channel": channel, "unsubscribed": True}

    def _opted_out(self, tx, member: dict, channel: str) -> bool:
        consent = ((member.get("preferences") or {}).get("consent") or {}).get(channel)
        return consent is False or tx[OPT_OUTS].get(f"{member['id']}:{channel}") is not None

    # the timer

    @timer(interval=CAMPAIGN_TIMER_SECONDS)
    def run_campaigns(self) -> None:
        try:
            counts = self.run_campaigns_at(self._now())
        except Exception:
            log.exception("the campaign timer failed; the next run tries again")
            return
        if counts["queued"]:
            log.info("campaign timer: %s", counts)

    def run_campaigns_at(self, now: datetime) -> dict:
        """The timer's body at `now`: every active campaign's due occurrence (greetings.due_occurrence)
        is worked through, unless another instance holds or finished it. Counts of what it did."""
        counts = {"occurrences": 0, "queued": 0, "opted_out": 0, "no_address": 0, "already_queued": 0}
        for campaign in list(self.store[CAMPAIGNS].iterate({"active": True}, [("created_at", 1)])):
            occurrence = greetings.due_occurrence(campaign, now)
            if occurrence is None:
                continue
            try:
                self._run_occurrence(campaign, occurrence, now, counts)
            except Exception:  # one broken campaign must not hold up the others
                log.exception("campaign %s occurrence %s failed; tried again next run", campaign["id"], occurrence.key)
        return counts

    def _run_occurrence(self, campaign: dict, occurrence: greetings.Occurrence, now: datetime, counts: dict) -> None:
        holder, started = new_id(), monotonic_clock.monotonic()

        def lease_until() -> str:  # `now` advanced by the time this run has taken
            elapsed = monotonic_clock.monotonic() - started
            return stamp(now + timedelta(seconds=elapsed + CAMPAIGN_LEASE_SECONDS))

        run = self._claim_run(campaign, occurrence, now, holder, lease_until())
        if run is None:
            return
        counts["occurrences"] += 1
        while True:
            try:
                page = self.contacts.as_system().list_segment_members(
                    campaign["segment_id"], {"limit": MEMBERS_PAGE, "cursor": run["cursor"]}
                )
            except Exception as exc:  # the segment deleted, contacts down: the claim lapses, a later run retries
                self._give_up(run, holder, f"members of segment {campaign['segment_id']}: {exc}")
                raise
            try:
                with self.store.transaction() as tx:
                    run = self._queue_page(tx, campaign, occurrence, run, holder, page, now, counts, lease_until())
            except (_Lost, Conflict, PreconditionFailed):
                return  # another instance took this occurrence over
            if run["status"] == "done":
                return

    def _claim_run(
        self, campaign: dict, occurrence: greetings.Occurrence, now: datetime, holder: str, until: str
    ) -> dict | None:
        run_id = f"{campaign['id']}:{occurrence.key}"
        try:
            with self.store.transaction() as tx:
                run = tx[CAMPAIGN_RUNS].get(run_id)
                if run is None:
                    return tx[CAMPAIGN_RUNS].insert(
                        {
                            "id": run_id,
                            "campaign_id": campaign["id"],
                            "occurrence": occurrence.key,
                            "status": "running",
                            "holder": holder,
                            "lease_until": until,
                            "cursor": None,
                            "queued": 0,
                            "slots": {},
                            "last_error": None,
                            "started_at": stamp(now),
                            "finished_at": None,
                        }
                    )
                if run["status"] == "done" or run["lease_until"] > stamp(now):
                    return None
                return tx[CAMPAIGN_RUNS].replace({**run, "holder": holder, "lease_until": until}, run["version"])
        except (Conflict, PreconditionFailed):
            return None  # another instance claimed it at the same moment

    def _give_up(self, run: dict, holder: str, error: str) -> None:
        try:
            with self.store.transaction() as tx:
                current = tx[CAMPAIGN_RUNS].get(run["id"])
                if current is not None and current["holder"] == holder:
                    released = {**current, "lease_until": "", "last_error": error[:500]}
                    tx[CAMPAIGN_RUNS].replace(released, current["version"])
        except (Conflict, PreconditionFailed):
            pass

    def _queue_page(
        self,
        tx,
        campaign: dict,
        occurrence: greetings.Occurrence,
        run: dict,
        holder: str,
        page: dict,
        now: datetime,
        counts: dict,
        until: str,
    ) -> dict:
        """One page of members: their deliveries and the claim's progress, in one transaction."""
        current = tx[CAMPAIGN_RUNS].get(run["id"])
        if current is None or current["holder"] != holder or current["version"] != run["version"]:
            raise _Lost
        channel, slots = campaign["channel"], dict(current["slots"])
        queued = 0
        for member in page.get("data") or []:
            delivery = self._greeting(tx, campaign, occurrence, member, slots, now, counts)
            # Conflict (another instance wrote the same dedupe key meanwhile) rolls the page back
            if delivery is not None and self._queue_delivery(tx, delivery) is not None:
                queued += 1
        counts["queued"] += queued
        minute = stamp(now)[:16]
        done = not page.get("next_cursor")
        progress = {
            **current,
            "cursor": page.get("next_cursor"),
            "queued": current["queued"] + queued,
            "slots": {key: n for key, n in slots.items() if key >= minute},  # past minutes no longer matter
            "lease_until": until,
            "last_error": None,
            "status": "done" if done else "running",
            "finished_at": stamp(now) if done else None,
            "channel": channel,
        }
        return tx[CAMPAIGN_RUNS].replace(progress, current["version"])

    def _greeting(
        self,
        tx,
        campaign: dict,
        occurrence: greetings.Occurrence,
        member: dict,
        slots: dict,
        now: datetime,
        counts: dict,
    ) -> dict | None:
        """The member's delivery for this occurrence, or None (not theirs, opted out, no address,
        already queued)."""
        extra = greetings.greets_member(campaign, member, occurrence.day)
        if extra is None or self._erased(tx, member["id"]):
            return None
        channel = campaign["channel"]
        if self._opted_out(tx, member, channel):
            counts["opted_out"] += 1
            return None
        to = member.get("email") if channel == "email" else member.get("phone")
        if not to:
            counts["no_address"] += 1
            return None
        dedupe_key = f"campaign:{campaign['id']}:{occurrence.key}:{member['id']}"
        if tx[DELIVERIES].find({"dedupe_key": dedupe_key}, None, 1).items:
            counts["already_queued"] += 1
            return None
        language = greetings.message_language(member.get("preferred_language"))
        variables = {
            "customer_name": member.get("display_name") or member.get("first_name") or NAMELESS[language],
            "unsubscribe_url": unsubscribe_url(member["id"], channel),
            **extra,
        }
        if campaign.get("holiday"):
            variables["holiday_name"] = greetings.holiday_name(campaign["holiday"], language)
        subject, body = self._render(tx, template_key_of(campaign), channel, language, variables)
        preferences = member.get("preferences") or {}
        tz = greetings.zone(preferences.get("time_zone")) or greetings.zone(campaign["time_zone"])
        tz = tz or greetings.zone(greetings.DEFAULT_TIME_ZONE)
        at = greetings.next_slot(slots, now, campaign["throttle_per_minute"], tz, campaign.get("quiet_hours"))
        delivery = delivery_rules.new_delivery(
            channel=channel,
            to=to,
            dedupe_key=dedupe_key,
            kind="greeting",
            created_at=stamp(now),
            subject=subject if channel == "email" else None,
            body=body,
            language=language,
            contact_id=member["id"],
            campaign_id=campaign["id"],
            ref={"type": "campaign", "id": campaign["id"]},
            next_attempt_at=stamp(at),
        )
        return {**delivery, "occurrence": occurrence.key}
