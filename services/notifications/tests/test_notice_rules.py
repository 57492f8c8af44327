"""Notice rules and preferences, pure: defaults are today's behaviour, validation names each field,
`plan` honours mutes, switches, quiet hours, digests and urgency, digests fall due on time."""

from datetime import UTC, datetime

import pytest

from crm_common.errors import ValidationFailed
from notifications import notice_rules as rules

NOW = datetime(2030, 1, 2, 14, 30, tzinfo=UTC)  # 22:30 in Asia/Shanghai


def fields(exc) -> list[str]:
    return [e["field"] for e in exc.value.errors]


def prefs(**changes) -> dict:
    return {**rules.default_preferences("u1", "u1@example.com"), **changes}


def test_defaults_tell_the_natural_audiences_in_app_only() -> None:
    assert list(rules.KINDS)[0] == "customer_assigned" and len(rules.KINDS) == 19
    rule = rules.default_rule("task_overdue")
    assert (rule["audiences"], rule["channels"], rule["enabled"], rule["version"]) == (
        ["assignee", "creator"],
        ["in_app"],
        True,
        0,
    )
    assert rules.default_rule("sla_escalated")["urgent"] and not rules.default_rule("deal_won")["urgent"]
    assert rules.default_rule("erasure_completed")["mandatory"] and rules.default_rule("webhook_disabled")["mandatory"]
    assert rules.plan(rule, prefs(), NOW) == rules.NoticePlan(True, None, False, None)


def test_a_rule_change_is_validated_field_by_field() -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.changed_rule(
            rules.default_rule("deal_won"),
            {
                "audiences": ["assignee"],
                "channels": ["fax"],
                "user_ids": [""],
                "urgent": "yes",
                "color": 1,
                "version": 3,
            },
        )
    assert sorted(fields(exc)) == ["audiences", "channels", "color", "urgent", "user_ids", "version"]
    with pytest.raises(ValidationFailed) as exc:
        rules.changed_rule(rules.default_rule("deal_won"), {"channels": []})
    assert fields(exc) == ["channels"]
    assert rules.changed_rule(rules.default_rule("deal_won"), {"channels": [], "enabled": False})["enabled"] is False
    with pytest.raises(ValidationFailed):
        rules.changed_rule(rules.default_rule("deal_won"), {"user_ids": [f"u{i}" for i in range(51)]})


def test_preferences_are_validated_field_by_field() -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.changed_preferences(
            prefs(),
            {
                "email": "nope",
                "phone": "12",
                "language": "fr",
                "time_zone": "Mars/Olympus",
                "quiet_hours": {"start": "22:00", "end": "22:00"},
                "digest": "weekly",
                "digest_at": "25:00",
                "channels": {"fax": True, "email": "yes"},
                "muted": {"no_kind": ["email"], "deal_won": ["pigeon"]},
                "theme": "dark",
            },
        )
    assert sorted(fields(exc)) == sorted(
        [
            "email",
            "phone",
            "language",
            "time_zone",
            "quiet_hours",
            "digest",
            "digest_at",
            "channels.fax",
            "channels.email",
            "muted.no_kind",
            "muted.deal_won",
            "theme",
        ]
    )
    with pytest.raises(ValidationFailed) as exc:
        rules.changed_preferences(prefs(), {"channels": {"sms": True}})
    assert fields(exc) == ["channels.sms"]
    changed = rules.changed_preferences(prefs(), {"phone": "+8613800138000", "channels": {"sms": True}})
    assert changed["channels"] == {"email": True, "sms": True}


def test_plan_follows_quiet_hours_digest_urgency_and_mutes() -> None:
    rule = {**rules.default_rule("deal_won"), "channels": ["in_app", "email", "sms"]}
    quiet = prefs(
        time_zone="Asia/Shanghai",
        quiet_hours={"start": "21:00", "end": "08:00"},
        phone="+8613800138000",
        channels={"email": True, "sms": True},
    )
    morning = datetime(2030, 1, 3, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    assert rules.plan(rule, quiet, NOW) == rules.NoticePlan(True, morning, False, morning)
    assert rules.plan({**rule, "urgent": True}, {**quiet, "digest": "daily"}, NOW) == rules.NoticePlan(
        True, NOW, False, NOW
    )
    assert rules.plan(rule, {**quiet, "digest": "hourly"}, NOW) == rules.NoticePlan(True, None, True, morning)
    muted = {**quiet, "muted": {"deal_won": ["in_app", "email", "sms"]}}
    assert rules.plan(rule, muted, NOW) == rules.NoticePlan(False, None, False, None)
    assert rules.plan({**rule, "mandatory": True}, muted, NOW).in_app
    assert rules.plan(rule, {**quiet, "email": None, "channels": {"email": True, "sms": False}}, NOW) == (
        rules.NoticePlan(True, None, False, None)
    )


def test_digests_fall_due_on_the_hour_or_the_daily_time_past_quiet_hours() -> None:
    oldest = datetime(2030, 1, 2, 9, 15, tzinfo=UTC)
    assert rules.digest_due_at(prefs(digest="hourly"), oldest) == datetime(2030, 1, 2, 10, 0, tzinfo=UTC)
    assert rules.digest_due_at(prefs(digest="off"), oldest) == oldest
    daily = prefs(digest="daily", digest_at="08:00", time_zone="Asia/Shanghai")
    assert rules.digest_due_at(daily, oldest) == datetime(2030, 1, 3, 0, 0, tzinfo=UTC)
    assert rules.digest_due_at(daily, datetime(2030, 1, 1, 23, 0, tzinfo=UTC)) == datetime(2030, 1, 2, 0, 0, tzinfo=UTC)
    late = prefs(digest="hourly", time_zone="Asia/Shanghai", quiet_hours={"start": "21:00", "end": "08:00"})
    assert rules.digest_due_at(late, NOW) == datetime(2030, 1, 3, 0, 0, tzinfo=UTC)


def test_a_preference_email_may_be_as_long_as_a_directory_email() -> None:
    longest = "a" * 64 + "@" + "b" * 185 + ".com"  # 254 characters, as RFC 5321 and the directory allow
    assert rules.changed_preferences(prefs(), {"email": longest})["email"] == longest
    with pytest.raises(ValidationFailed) as exc:
        rules.changed_preferences(prefs(), {"email": "a" + longest})
    assert fields(exc) == ["email"]
