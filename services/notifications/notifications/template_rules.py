"""Message templates, pure: the catalog of template keys and their variables, the built-in defaults
(English and Simplified Chinese), the jinja2 sandbox they render in, and their validation."""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from crm_common.errors import ValidationFailed
from crm_common.schema import number_problem

CHANNELS = ("email", "sms")
LANGUAGES = ("en", "zh-CN")
MAX_SUBJECT_SOURCE, MAX_SUBJECT = 300, 300
MAX_BODY_SOURCE = {"email": 10_000, "sms": 1_000}
MAX_RENDERED = 50_000  # characters a rendered body may reach
MAX_VARIABLE_TEXT = 5_000  # a variable's value in a preview
MAX_EXPONENT = 64


@dataclass(frozen=True)
class Variable:
    description: str
    sample: dict[str, Any]  # per language: text, a number, or (a list variable) a list of objects


@dataclass(frozen=True)
class TemplateKey:
    description: str
    variables: tuple[str, ...]
    channels: tuple[str, ...] = CHANNELS  # the channels it is sent on (each has built-in defaults)


VARIABLES: dict[str, Variable] = {
    "customer_name": Variable(
        "the customer's name (a greeting word such as 'there' when it is not known)",
        {"en": "Wang Fang", "zh-CN": "王芳"},
    ),
    "company_name": Variable(
        "our company's name (setting COMPANY_NAME)", {"en": "Acme Trading", "zh-CN": "艾克美贸易"}
    ),
    "ticket_subject": Variable("the ticket's subject", {"en": "Printer jams", "zh-CN": "打印机卡纸"}),
    "ticket_id": Variable(
        "the ticket's id", {"en": "18c1f2a3b4c5d6e7a1b2c3d4e5", "zh-CN": "18c1f2a3b4c5d6e7a1b2c3d4e5"}
    ),
    "reply_body": Variable(
        "the staff reply's text",
        {"en": "Please restart the printer and try again.", "zh-CN": "请重启打印机后再试一次。"},
    ),
    "survey_url": Variable(
        "a link to a satisfaction survey page (empty: the service desk has no survey page; replies are scored)",
        {"en": "https://crm.example.com/survey/18c1f2a3", "zh-CN": "https://crm.example.com/survey/18c1f2a3"},
    ),
    "holiday_name": Variable("the holiday's name in the message's language", {"en": "Christmas", "zh-CN": "春节"}),
    "unsubscribe_url": Variable(
        "the link that stops these messages for the customer on this channel",
        {
            "en": "https://crm.example.com/unsubscribe?token=abc",
            "zh-CN": "https://crm.example.com/unsubscribe?token=abc",
        },
    ),
    "years": Variable("whole years since the customer joined (a number)", {"en": 3, "zh-CN": 3}),
    "notice_title": Variable("the notice's title", {"en": "Deal won", "zh-CN": "赢单"}),
    "notice_body": Variable(
        "the notice's text", {"en": "Printers for Acme (1200.00 CNY)", "zh-CN": "艾克美打印机（1200.00 CNY）"}
    ),
    "notices": Variable(
        "the notices of a digest, oldest first: a list to loop over ({% for n in notices %}), each with"
        " n.title, n.body and n.at (when, UTC)",
        {
            "en": [
                {"title": "Deal won", "body": "Printers for Acme (1200.00 CNY)", "at": "2030-01-02 09:30 UTC"},
                {"title": "New task assigned to you", "body": "Call Wang Fang back", "at": "2030-01-02 10:05 UTC"},
            ],
            "zh-CN": [
                {"title": "赢单", "body": "艾克美打印机（1200.00 CNY）", "at": "2030-01-02 09:30 UTC"},
                {"title": "新任务", "body": "给王芳回电话", "at": "2030-01-02 10:05 UTC"},
            ],
        },
    ),
    "notice_count": Variable("how many notices the digest holds (a number)", {"en": 2, "zh-CN": 2}),
}
# Variables holding a list of objects, with the fields each object has: a template may loop over
# them ({% for n in notices %}) and read those fields (n.title); nothing else loops or reads fields.
LIST_VARIABLES: dict[str, tuple[str, ...]] = {"notices": ("title", "body", "at")}
MAX_LIST_ITEMS = 200

TICKET = ("customer_name", "company_name", "ticket_subject", "ticket_id")
GREETING = ("customer_name", "company_name", "unsubscribe_url")
CATALOG: dict[str, TemplateKey] = {
    "ticket_acknowledgement": TemplateKey("a new ticket, acknowledged to its customer", TICKET),
    "ticket_reply": TemplateKey("a public staff reply on a ticket, sent to its customer", (*TICKET, "reply_body")),
    "satisfaction_survey": TemplateKey("a resolved ticket's satisfaction survey", (*TICKET, "survey_url")),
    "greeting_holiday": TemplateKey("a holiday greeting campaign", (*GREETING, "holiday_name")),
    "greeting_birthday": TemplateKey("a birthday greeting campaign", GREETING),
    "greeting_anniversary": TemplateKey("a customer anniversary greeting campaign", (*GREETING, "years")),
    "staff_notice": TemplateKey(
        "a notice to a staff member by email or SMS (notification rules and preferences)",
        ("notice_title", "notice_body"),
    ),
    "notice_digest": TemplateKey(
        "a staff member's email digest of their notices", ("notices", "notice_count"), channels=("email",)
    ),
}

# (key, channel, language) -> (subject, body); sms messages have no subject.
DEFAULTS: dict[tuple[str, str, str], tuple[str | None, str]] = {
    ("ticket_acknowledgement", "email", "en"): (
        "We received your request: {{ ticket_subject }} [#{{ ticket_id }}]",
        "Hello {{ customer_name }},\n\nthank you for contacting us. We received your request"
        ' "{{ ticket_subject }}" and will get back to you soon. Your reference is #{{ ticket_id }}:'
        " reply to this email to add to it.",
    ),
    ("ticket_acknowledgement", "email", "zh-CN"): (
        "我们已收到您的请求：{{ ticket_subject }} [#{{ ticket_id }}]",
        "{{ customer_name }}，您好：\n\n感谢您联系我们。我们已收到您的请求“{{ ticket_subject }}”，会尽快回复您。"
        "您的工单编号为 #{{ ticket_id }}，如需补充信息，请直接回复本邮件。",
    ),
    ("ticket_acknowledgement", "sms", "en"): (
        None,
        '{{ company_name }}: we received your request "{{ ticket_subject }}" (#{{ ticket_id }}).',
    ),
    ("ticket_acknowledgement", "sms", "zh-CN"): (
        None,
        "【{{ company_name }}】我们已收到您的请求“{{ ticket_subject }}”（#{{ ticket_id }}）。",
    ),
    ("ticket_reply", "email", "en"): ("Re: {{ ticket_subject }} [#{{ ticket_id }}]", "{{ reply_body }}"),
    ("ticket_reply", "email", "zh-CN"): ("回复：{{ ticket_subject }} [#{{ ticket_id }}]", "{{ reply_body }}"),
    ("ticket_reply", "sms", "en"): (None, "{{ company_name }} (#{{ ticket_id }}): {{ reply_body }}"),
    ("ticket_reply", "sms", "zh-CN"): (None, "【{{ company_name }}】（#{{ ticket_id }}）{{ reply_body }}"),
    ("satisfaction_survey", "email", "en"): (
        "How did we do? {{ ticket_subject }} [#{{ ticket_id }}]",
        'Hello {{ customer_name }},\n\nyour request "{{ ticket_subject }}" (#{{ ticket_id }}) was resolved.'
        " How satisfied are you with our help? Please answer with a score from 1 (not at all) to 5 (very),"
        " and a comment if you like.",
    ),
    ("satisfaction_survey", "email", "zh-CN"): (
        "请评价我们的服务：{{ ticket_subject }} [#{{ ticket_id }}]",
        "{{ customer_name }}，您好：\n\n您的请求“{{ ticket_subject }}”（#{{ ticket_id }}）已处理完毕。"
        "请用 1（非常不满意）到 5（非常满意）为我们的服务打分，也欢迎留下您的意见。",
    ),
    ("satisfaction_survey", "sms", "en"): (
        None,
        "{{ company_name }}: your request #{{ ticket_id }} was resolved. How did we do?"
        " Reply with a score from 1 to 5.",
    ),
    ("satisfaction_survey", "sms", "zh-CN"): (
        None,
        "【{{ company_name }}】您的请求 #{{ ticket_id }} 已处理完毕，请回复 1 到 5 为我们的服务打分。",
    ),
    ("greeting_holiday", "email", "en"): (
        "Happy {{ holiday_name }} from {{ company_name }}",
        "Dear {{ customer_name }},\n\nall of us at {{ company_name }} wish you a happy {{ holiday_name }}.\n\n"
        "To stop receiving these greetings: {{ unsubscribe_url }}",
    ),
    ("greeting_holiday", "email", "zh-CN"): (
        "{{ company_name }}祝您{{ holiday_name }}快乐",
        "尊敬的{{ customer_name }}：\n\n{{ company_name }}全体同仁祝您{{ holiday_name }}快乐，万事如意！\n\n"
        "退订此类问候：{{ unsubscribe_url }}",
    ),
    ("greeting_holiday", "sms", "en"): (
        None,
        "{{ company_name }}: happy {{ holiday_name }}, {{ customer_name }}! Unsubscribe: {{ unsubscribe_url }}",
    ),
    ("greeting_holiday", "sms", "zh-CN"): (
        None,
        "【{{ company_name }}】{{ customer_name }}，祝您{{ holiday_name }}快乐！退订：{{ unsubscribe_url }}",
    ),
    ("greeting_birthday", "email", "en"): (
        "Happy birthday, {{ customer_name }}!",
        "Dear {{ customer_name }},\n\nhappy birthday from all of us at {{ company_name }}!\n\n"
        "To stop receiving these greetings: {{ unsubscribe_url }}",
    ),
    ("greeting_birthday", "email", "zh-CN"): (
        "{{ customer_name }}，生日快乐！",
        "尊敬的{{ customer_name }}：\n\n{{ company_name }}全体同仁祝您生日快乐！\n\n"
        "退订此类问候：{{ unsubscribe_url }}",
    ),
    ("greeting_birthday", "sms", "en"): (
        None,
        "{{ company_name }}: happy birthday, {{ customer_name }}! Unsubscribe: {{ unsubscribe_url }}",
    ),
    ("greeting_birthday", "sms", "zh-CN"): (
        None,
        "【{{ company_name }}】{{ customer_name }}，祝您生日快乐！退订：{{ unsubscribe_url }}",
    ),
    ("greeting_anniversary", "email", "en"): (
        "{{ years }} year{{ '' if years == 1 else 's' }} together, {{ customer_name }}",
        "Dear {{ customer_name }},\n\ntoday it is {{ years }} year{{ '' if years == 1 else 's' }} since you joined"
        " {{ company_name }}. Thank you for your trust!\n\nTo stop receiving these greetings: {{ unsubscribe_url }}",
    ),
    ("greeting_anniversary", "email", "zh-CN"): (
        "{{ customer_name }}，感谢您 {{ years }} 年来的陪伴",
        "尊敬的{{ customer_name }}：\n\n今天是您与{{ company_name }}相伴 {{ years }} 周年的日子，"
        "感谢您一直以来的信任与支持！\n\n"
        "退订此类问候：{{ unsubscribe_url }}",
    ),
    ("greeting_anniversary", "sms", "en"): (
        None,
        "{{ company_name }}: {{ years }} year{{ '' if years == 1 else 's' }} together, {{ customer_name }}!"
        " Thank you. Unsubscribe: {{ unsubscribe_url }}",
    ),
    ("greeting_anniversary", "sms", "zh-CN"): (
        None,
        "【{{ company_name }}】{{ customer_name }}，感谢您 {{ years }} 年来的陪伴！退订：{{ unsubscribe_url }}",
    ),
    ("staff_notice", "email", "en"): ("{{ notice_title }}", "{{ notice_title }}\n\n{{ notice_body }}"),
    ("staff_notice", "email", "zh-CN"): ("CRM 通知：{{ notice_title }}", "{{ notice_title }}\n\n{{ notice_body }}"),
    ("staff_notice", "sms", "en"): (None, "CRM: {{ notice_title }}: {{ notice_body }}"),
    ("staff_notice", "sms", "zh-CN"): (None, "【CRM】{{ notice_title }}：{{ notice_body }}"),
    ("notice_digest", "email", "en"): (
        "Your CRM digest: {{ notice_count }} notice{{ '' if notice_count == 1 else 's' }}",
        "{% for n in notices %}- {{ n.at }} {{ n.title }}: {{ n.body }}\n{% endfor %}",
    ),
    ("notice_digest", "email", "zh-CN"): (
        "CRM 通知摘要：{{ notice_count }} 条通知",
        "{% for n in notices %}- {{ n.at }} {{ n.title }}：{{ n.body }}\n{% endfor %}",
    ),
}

# What a template may use: variables, these filters, {% if %}, comparisons and arithmetic, and a
# loop over a list variable reading its items' fields. Other loops, assignments, calls and
# attributes are refused: the other variables are plain values, and a list holds at most
# MAX_LIST_ITEMS items, so a template's output stays bounded (no loop or doubling can blow it up).
FILTERS = (
    "abs",
    "capitalize",
    "d",
    "default",
    "first",
    "float",
    "int",
    "last",
    "length",
    "lower",
    "round",
    "string",
    "title",
    "trim",
    "truncate",
    "upper",
    "urlencode",
    "wordcount",
)
ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Name,
    nodes.Const,
    nodes.Tuple,
    nodes.List,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Keyword,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Mod,
    nodes.Pow,
)
REFUSED_NAMES = {
    "For": "loops ({% for %})",
    "Assign": "assignments ({% set %})",
    "AssignBlock": "assignments ({% set %})",
    "With": "{% with %}",
    "Macro": "macros",
    "CallBlock": "{% call %}",
    "Call": "calls",
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% import %}",
    "Extends": "{% extends %}",
    "Block": "{% block %}",
    "Dict": "dictionaries",
}


class RenderFailed(ValueError):
    """A template could not render with the given values (a refused operation, a missing variable)."""


class _Sandbox(SandboxedEnvironment):
    """The second line behind validation: no calls at all, bounded repetition, powers and % formatting."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (jinja2's signature)
        raise SecurityError("calls are not available in notification templates")

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not available")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not available")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_RENDERED:
                    raise SecurityError(f"a repetition longer than {MAX_RENDERED} is not available")
        return super().call_binop(context, operator, left, right)


def _environment() -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # range, cycler, joiner, lipsum, namespace, dict: none of them are variables
    env.filters = {name: env.filters[name] for name in FILTERS}
    return env


ENV = _environment()


@lru_cache(maxsize=256)
def _compiled(source: str):
    return ENV.from_string(source)


def resolve_language(requested: str | None) -> str:
    """The template language for a customer's preferred language: Simplified Chinese for any `zh*`
    (zh, zh-CN, zh-TW, zh-Hans...), English for everything else."""
    return "zh-CN" if isinstance(requested, str) and requested.strip().lower().startswith("zh") else "en"


# Whom a message greets when the customer's name is not known.
GREETING_NAME = {"en": "there", "zh-CN": "客户"}


def customer_name(name: str | None, language: str, contact_id: str | None = None) -> str:
    """The `customer_name` value: the contact's name, else a greeting word in the message's
    language (a projection that knows no name holds the contact id instead)."""
    return name if name and name != contact_id else GREETING_NAME[resolve_language(language)]


def sample_values(key: str, language: str) -> dict[str, Any]:
    language = resolve_language(language)
    return {name: VARIABLES[name].sample[language] for name in CATALOG[key].variables}


def default_template(key: str, channel: str, language: str) -> dict:
    if channel not in CATALOG[key].channels:
        raise ValidationFailed(
            f"{key} is not sent by {channel}", [{"field": "channel", "message": f"{key} has no {channel} message"}]
        )
    subject, body = DEFAULTS[(key, channel, resolve_language(language))]
    return {"key": key, "channel": channel, "language": resolve_language(language), "subject": subject, "body": body}


def catalog_view() -> list[dict]:
    """The catalog as the API shows it: each key with its variables, samples and built-in defaults."""
    return [
        {
            "key": key,
            "description": spec.description,
            "channels": list(spec.channels),
            "variables": [
                {"name": name, "description": VARIABLES[name].description, "samples": VARIABLES[name].sample}
                for name in spec.variables
            ],
            "defaults": [
                {"channel": channel, "language": language, "subject": subject, "body": body}
                for (k, channel, language), (subject, body) in DEFAULTS.items()
                if k == key
            ],
        }
        for key, spec in CATALOG.items()
    ]


def _loop_items(tree: nodes.Node) -> set[str]:
    """The names a loop over a list variable binds to its items (`n` of `{% for n in notices %}`)."""
    return {
        loop.target.name
        for loop in tree.find_all(nodes.For)
        if isinstance(loop.target, nodes.Name)
        and isinstance(loop.iter, nodes.Name)
        and loop.iter.name in LIST_VARIABLES
    }


def _is_list_loop(node: nodes.For) -> bool:
    return (
        isinstance(node.target, nodes.Name)
        and isinstance(node.iter, nodes.Name)
        and node.iter.name in LIST_VARIABLES
        and node.test is None
        and not node.recursive
    )


def _item_field(node: nodes.Getattr, items: set[str]) -> bool:
    fields = {field for fields in LIST_VARIABLES.values() for field in fields}
    return isinstance(node.node, nodes.Name) and node.node.name in items and node.attr in fields


def _node_problems(tree: nodes.Node) -> list[str]:
    problems: list[str] = []
    items = _loop_items(tree)
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.For) and _is_list_loop(node):
            continue
        if isinstance(node, nodes.Getattr) and _item_field(node, items):
            continue
        if isinstance(node, nodes.Getattr):
            where = "outside the sandbox" if node.attr.startswith("_") else "not available (variables are plain values)"
            problems.append(f"attribute {node.attr!r} is {where}")
        elif isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice):
            index = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if not isinstance(index, int) or isinstance(index, bool):
                where = "outside the sandbox" if isinstance(index, str) and index.startswith("_") else "not available"
                problems.append(f"item access {index!r} is {where} (only [n] and [a:b] on text)")
        elif isinstance(node, nodes.Filter) and node.name not in FILTERS:
            problems.append(f"the filter {node.name!r} is not available (available: {', '.join(FILTERS)})")
        elif not isinstance(node, ALLOWED_NODES):
            name = type(node).__name__
            problems.append(f"{REFUSED_NAMES.get(name, name)} not available in notification templates")
    return list(dict.fromkeys(problems))


def _parse(source: str, field: str, allowed: tuple[str, ...]) -> tuple[set[str], list[dict]]:
    """The variables a template source uses, and its problems as {field, message}."""
    try:
        tree = ENV.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return set(), [{"field": field, "message": f"syntax error{f' on line {line}' if line else ''}: {exc.message}"}]
    errors = [{"field": field, "message": problem} for problem in _node_problems(tree)]
    used = _names(tree)
    for name in sorted(used - set(allowed)):
        errors.append({"field": field, "message": f"unknown variable {name!r} (known: {', '.join(allowed)})"})
    if not errors:
        try:
            _compiled(source)  # what only compiling finds: an unknown test (`is ...`)
        except TemplateError as exc:
            errors.append({"field": field, "message": str(exc.message)})
    return used, errors


def _names(tree: nodes.Node) -> set[str]:
    """The variables a template reads (it may assign none: {% set %} and {% with %} are refused; a
    loop's item is no variable)."""
    return {node.name for node in tree.find_all(nodes.Name) if node.ctx == "load"} - _loop_items(tree)


def template_problems(key: str, channel: str, subject: str | None, body: str) -> list[dict]:
    """What is wrong with a template's text for its key and channel: [{field, message}], empty when none."""
    allowed = CATALOG[key].variables
    errors: list[dict] = []
    if channel not in CATALOG[key].channels:
        return [{"field": "channel", "message": f"{key} is sent only by {', '.join(CATALOG[key].channels)}"}]
    if channel == "email":
        if not isinstance(subject, str) or not subject.strip():
            errors.append({"field": "subject", "message": "is required for email"})
        else:
            errors += _parse(subject, "subject", allowed)[1]
    elif subject is not None:
        errors.append({"field": "subject", "message": f"must be null: {channel} messages have no subject"})
    if len(body) > MAX_BODY_SOURCE[channel]:
        errors.append({"field": "body", "message": f"must be at most {MAX_BODY_SOURCE[channel]} characters"})
    else:
        errors += _parse(body, "body", allowed)[1]
    if not errors:
        for field, source in (("subject", subject), ("body", body)):
            try:
                if source is not None:  # what only running finds: a too long repetition, a huge power
                    _render_text(source, sample_values(key, "en"), MAX_RENDERED)
            except RenderFailed as exc:
                errors.append({"field": field, "message": f"cannot render with the sample values: {exc}"})
    return errors


def variables_used(subject: str | None, body: str) -> list[str]:
    """The variables a (valid) template uses, sorted."""
    used = _names(ENV.parse(body))
    if subject:
        used |= _names(ENV.parse(subject))
    return sorted(used)


def _render_text(source: str, values: dict[str, Any], limit: int) -> str:
    try:
        out: list[str] = []
        size = 0
        for chunk in _compiled(source).generate(**values):
            size += len(chunk)
            if size > limit:
                raise RenderFailed(f"renders longer than {limit} characters")
            out.append(chunk)
        return "".join(out)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        if isinstance(exc, RenderFailed):
            raise
        raise RenderFailed(str(exc) or type(exc).__name__) from None


def render(subject: str | None, body: str, values: dict[str, Any]) -> tuple[str | None, str]:
    """The rendered subject (one line, at most MAX_SUBJECT characters; None without one) and body;
    RenderFailed when the template cannot render with these values."""
    rendered_subject = None
    if subject is not None:
        rendered_subject = " ".join(_render_text(subject, values, MAX_RENDERED).split())[:MAX_SUBJECT]
    return rendered_subject, _render_text(body, values, MAX_RENDERED)


def value_problems(key: str, values: Any) -> list[dict]:
    """Variables given for a preview: the key's own, plain values."""
    if not isinstance(values, dict):
        return [{"field": "variables", "message": "must be an object of variable names to values"}]
    allowed = CATALOG[key].variables
    errors = []
    for name, value in values.items():
        field = f"variables.{name}"
        if name not in allowed:
            errors.append({"field": field, "message": f"is not a variable of {key} (known: {', '.join(allowed)})"})
        elif name in LIST_VARIABLES:
            if problem := _list_problem(value, LIST_VARIABLES[name]):
                errors.append({"field": field, "message": problem})
        elif isinstance(value, str):
            if len(value) > MAX_VARIABLE_TEXT:
                errors.append({"field": field, "message": f"must be at most {MAX_VARIABLE_TEXT} characters"})
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or number_problem(value):
            errors.append({"field": field, "message": "must be a string or a finite number (integers within 64 bits)"})
    return errors


def _list_problem(value: Any, fields: tuple[str, ...]) -> str | None:
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        return f"must be a list of at most {MAX_LIST_ITEMS} objects"
    for item in value:
        if not isinstance(item, dict) or set(item) - set(fields):
            return f"must hold objects of {', '.join(fields)}"
        if not all(isinstance(text, str) and len(text) <= MAX_VARIABLE_TEXT for text in item.values()):
            return f"must hold texts of at most {MAX_VARIABLE_TEXT} characters"
    return None
