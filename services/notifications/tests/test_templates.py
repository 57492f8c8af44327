"""Notification templates (SQLite, no broker): the sandbox refuses escapes, validation names unknown
variables and syntax errors, previews render sample or given values, languages fall back, admins
write and admins and managers read, and an admin's template replaces the built-in default in the
service desk's emails."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from notifications import template_rules
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, NOTIFICATION_TEMPLATES, SPECS

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("u1",))
REP = Caller("u1", ("sales_rep",), ("t-sales",))
AGENT = Caller("s1", ("support_agent",), ("t-help",))
SYSTEM = Caller("system", ("system",))
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)

GREETING = {
    "key": "greeting_holiday",
    "channel": "email",
    "language": "en",
    "subject": "{{ holiday_name }} wishes",
    "body": "Dear {{ customer_name }}, happy {{ holiday_name }}! {{ company_name }}\nStop: {{ unsubscribe_url }}",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller = ADMIN):
    worker = worker_factory(NotificationsService, store=store, caller=caller)
    worker._now = lambda: NOW
    return worker


def problems(exc: pytest.ExceptionInfo) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in exc.value.errors]


# the sandbox and validation


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ customer_name['__class__'] }}",
        "{{ customer_name|attr('__class__') }}",
        "{{ customer_name.upper() }}",
        "{% for c in customer_name %}{% for d in customer_name %}{{ d }}{% endfor %}{% endfor %}",
        "{% set a = customer_name ~ customer_name %}{{ a }}",
        "{{ '%999999999s' % customer_name }}",
        "{{ customer_name * 100000 }}",
        "{% include 'x' %}",
    ],
)
def test_a_template_reaching_outside_the_sandbox_is_refused(store: DocumentStore, body: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).create_notification_template({**GREETING, "body": body})
    assert exc.value.status == 422 and exc.value.errors
    assert all(field == "body" for field, _ in problems(exc))
    assert store[NOTIFICATION_TEMPLATES].count() == 0


def test_the_sandbox_refuses_at_render_time_too() -> None:
    # validation is the first line; the environment itself refuses calls and unsafe attributes
    for source in ("{{ ''.__class__ }}", "{{ customer_name.upper() }}", "{{ 'x' * 10**7 }}", "{{ 9 ** 99999 }}"):
        with pytest.raises(template_rules.RenderFailed):
            template_rules.render(None, source, {"customer_name": "Wang"})


def test_an_unknown_variable_is_named(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).create_notification_template({**GREETING, "subject": "Hi {{ first_name }}"})
    assert exc.value.status == 422
    [(field, message)] = problems(exc)
    assert field == "subject" and "unknown variable 'first_name'" in message and "customer_name" in message


def test_a_variable_of_another_key_is_unknown_here(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).create_notification_template({**GREETING, "body": "{{ reply_body }}"})
    assert "unknown variable 'reply_body'" in problems(exc)[0][1]


def test_a_syntax_error_is_reported_with_its_line(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).create_notification_template({**GREETING, "body": "Dear {{ customer_name }},\n{% if %}"})
    [(field, message)] = problems(exc)
    assert field == "body" and message.startswith("syntax error on line 2")


def test_email_needs_a_subject_and_sms_has_none(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).create_notification_template({**GREETING, "subject": None})
    assert problems(exc) == [("subject", "is required for email")]
    with pytest.raises(ValidationFailed) as exc:
        service(store).create_notification_template({**GREETING, "channel": "sms"})
    assert problems(exc)[0][0] == "subject"


def test_every_built_in_default_is_valid_in_both_languages() -> None:
    for key in template_rules.CATALOG:
        for channel in template_rules.CATALOG[key].channels:
            for language in template_rules.LANGUAGES:
                default = template_rules.default_template(key, channel, language)
                assert template_rules.template_problems(key, channel, default["subject"], default["body"]) == []


# previews


def test_a_draft_previews_with_the_catalog_sample_values(store: DocumentStore) -> None:
    preview = service(store, MANAGER).preview_notification_template(GREETING)
    assert preview["subject"] == "Christmas wishes"
    assert preview["body"].startswith("Dear Wang Fang, happy Christmas! Acme Trading")
    assert preview["variables_used"] == ["company_name", "customer_name", "holiday_name", "unsubscribe_url"]


def test_a_preview_uses_the_given_variables(store: DocumentStore) -> None:
    preview = service(store).preview_notification_template(
        GREETING, {"customer_name": "Li Lei", "holiday_name": "New Year"}
    )
    assert (preview["subject"], preview["body"].split("!")[0]) == ("New Year wishes", "Dear Li Lei, happy New Year")


def test_a_preview_refuses_a_variable_the_key_does_not_have(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).preview_notification_template(GREETING, {"ticket_id": "tk1", "years": [1]})
    assert [field for field, _ in problems(exc)] == ["variables.ticket_id", "variables.years"]


def test_an_invalid_draft_is_not_previewed(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).preview_notification_template({**GREETING, "body": "{{ ''.__class__ }}"})
    assert "outside the sandbox" in problems(exc)[0][1]


def test_a_preview_of_what_is_in_force_shows_the_default_then_the_admins_template(store: DocumentStore) -> None:
    what = {"key": "ticket_acknowledgement", "channel": "email", "language": "zh-CN"}
    preview = service(store).preview_notification_template(what, {"ticket_subject": "发票"})
    assert preview["subject"].startswith("我们已收到您的请求：发票 [#") and preview["template_id"] is None
    assert preview["body"].startswith("王芳，您好：")
    created = service(store).create_notification_template(
        {**what, "subject": "收到：{{ ticket_subject }}", "body": "{{ customer_name }}，我们会尽快处理。"}
    )
    preview = service(store).preview_notification_template(what)
    assert (preview["subject"], preview["body"]) == ("收到：打印机卡纸", "王芳，我们会尽快处理。")
    assert service(store).preview_notification_template({"template_id": created["id"]})["template_id"] == created["id"]


# languages


def test_zh_cn_renders_the_chinese_default(store: DocumentStore) -> None:
    subject, body = service(store)._render(
        store,
        "satisfaction_survey",
        "email",
        "zh-CN",
        {"customer_name": "王芳", "ticket_subject": "打印机卡纸", "ticket_id": "tk1", "survey_url": ""},
    )
    assert subject == "请评价我们的服务：打印机卡纸 [#tk1]"
    assert body.startswith("王芳，您好：") and "（#tk1）已处理完毕" in body


@pytest.mark.parametrize(("asked", "language"), [("zh-TW", "zh-CN"), ("zh", "zh-CN"), ("fr", "en"), (None, "en")])
def test_a_language_without_templates_falls_back(store: DocumentStore, asked: str | None, language: str) -> None:
    assert template_rules.resolve_language(asked) == language
    values = {"customer_name": "Wang", "unsubscribe_url": "https://x.example/u"}
    subject, _ = service(store)._render(store, "greeting_birthday", "email", asked, values)
    assert subject == ("Wang，生日快乐！" if language == "zh-CN" else "Happy birthday, Wang!")


def test_an_admin_template_is_used_for_its_language_only(store: DocumentStore) -> None:
    service(store).create_notification_template(
        {"key": "greeting_birthday", "channel": "sms", "language": "zh-CN", "body": "生日快乐，{{ customer_name }}"}
    )
    values = {"customer_name": "Wang", "unsubscribe_url": "u"}
    assert service(store)._render(store, "greeting_birthday", "sms", "zh-TW", values) == (None, "生日快乐，Wang")
    subject, body = service(store)._render(store, "greeting_birthday", "sms", "fr", values)
    assert subject is None and body.startswith("Customer Service: happy birthday, Wang!")


# writing and reading


def test_admins_write_admins_and_managers_read(store: DocumentStore) -> None:
    for caller in (MANAGER, REP, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).create_notification_template(GREETING)
    created = service(store).create_notification_template(GREETING)
    assert created["version"] == 1 and created["created_by"] == "a1" and created["created_at"].startswith("2026-12-07")
    assert created["variables"] == ["company_name", "customer_name", "holiday_name", "unsubscribe_url"]
    assert service(store, MANAGER).get_notification_template(created["id"]) == created
    assert service(store, MANAGER).list_notification_templates({"where": {"key": "greeting_holiday"}})["data"] == [
        created
    ]
    for caller in (REP, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).list_notification_templates({})
        with pytest.raises(Forbidden):
            service(store, caller).preview_notification_template(GREETING)
    for write in (
        lambda: service(store, MANAGER).update_notification_template(created["id"], {"body": "x"}),
        lambda: service(store, MANAGER).delete_notification_template(created["id"]),
    ):
        with pytest.raises(Forbidden):
            write()


def test_a_second_template_for_one_key_channel_and_language_conflicts(store: DocumentStore) -> None:
    first = service(store).create_notification_template(GREETING)
    with pytest.raises(Conflict) as exc:
        service(store).create_notification_template({**GREETING, "body": "Hi {{ customer_name }}"})
    assert exc.value.status == 409 and exc.value.matches[0]["id"] == first["id"]
    service(store).create_notification_template({**GREETING, "language": "zh-CN"})  # another language is fine


def test_an_update_revalidates_and_keeps_what_the_template_is_for(store: DocumentStore) -> None:
    created = service(store).create_notification_template(GREETING)
    updated = service(store).update_notification_template(
        created["id"], {"body": "Hi {{ customer_name|upper }}"}, created["version"]
    )
    assert updated["version"] == 2 and updated["variables"] == ["customer_name", "holiday_name"]
    with pytest.raises(PreconditionFailed):
        service(store).update_notification_template(created["id"], {"body": "x"}, created["version"])
    with pytest.raises(ValidationFailed) as exc:
        service(store).update_notification_template(created["id"], {"body": "{{ nobody }}"})
    assert "unknown variable 'nobody'" in problems(exc)[0][1]
    with pytest.raises(ValidationFailed) as exc:
        service(store).update_notification_template(created["id"], {"language": "zh-CN"})
    assert problems(exc) == [("language", "cannot be changed: create another template")]
    with pytest.raises(ValidationFailed):
        service(store).update_notification_template(created["id"], {"variables": ["x"]})  # server-owned


def test_a_deleted_template_gives_way_to_the_default(store: DocumentStore) -> None:
    created = service(store).create_notification_template(GREETING)
    values = {"customer_name": "Wang", "holiday_name": "Christmas", "unsubscribe_url": "u"}
    assert service(store)._render(store, "greeting_holiday", "email", "en", values)[0] == "Christmas wishes"
    service(store).delete_notification_template(created["id"])
    with pytest.raises(NotFound):
        service(store).get_notification_template(created["id"])
    assert service(store)._render(store, "greeting_holiday", "email", "en", values)[0] == (
        "Happy Christmas from Customer Service"
    )


def test_the_catalog_lists_every_key_with_its_variables_and_defaults(store: DocumentStore) -> None:
    catalog = {entry["key"]: entry for entry in service(store, MANAGER).get_notification_template_catalog()["data"]}
    assert set(catalog) == {
        "ticket_acknowledgement",
        "ticket_reply",
        "satisfaction_survey",
        "greeting_holiday",
        "greeting_birthday",
        "greeting_anniversary",
        "staff_notice",
        "notice_digest",
    }
    assert [v["name"] for v in catalog["greeting_anniversary"]["variables"]] == [
        "customer_name",
        "company_name",
        "unsubscribe_url",
        "years",
    ]
    assert len(catalog["ticket_reply"]["defaults"]) == 4  # email and sms, en and zh-CN


# the service desk's emails


def deliver(store: DocumentStore, handler: str, event_type: str, payload: dict, actor: str = "system") -> dict:
    source = "contacts" if event_type.startswith("contact") else "service_desk"
    body = new_event(event_type, source, payload, actor=actor).as_dict()
    getattr(service(store, SYSTEM), handler)(body)
    return body


def test_an_admin_template_replaces_the_default_acknowledgement(store: DocumentStore) -> None:
    service(store).create_notification_template(
        {
            "key": "ticket_acknowledgement",
            "channel": "email",
            "language": "zh-CN",
            "subject": "【{{ company_name }}】已受理：{{ ticket_subject }}",
            "body": "{{ customer_name }}您好，工单 {{ ticket_id }} 已受理。",
        }
    )
    contact = {
        "id": "c1",
        "version": 1,
        "display_name": "王芳",
        "owner_id": "u1",
        "email": "wang.fang@example.cn",
        "preferred_language": "zh-TW",
    }
    deliver(store, "on_contact_created", "contact_created", contact, actor="u1")
    ticket = {"id": "tk1", "version": 1, "subject": "打印机卡纸", "priority": "high", "contact_id": "c1"}
    deliver(store, "on_ticket_created", "ticket_created", ticket, actor="a1")
    [email] = list(store[DELIVERIES].iterate({"channel": "email"}))
    assert (email["subject"], email["body"]) == (
        "【Customer Service】已受理：打印机卡纸",
        "王芳您好，工单 tk1 已受理。",
    )
    assert email["to"] == "wang.fang@example.cn"
