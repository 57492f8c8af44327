"""CSV for import and export, without I/O: reading rows, mapping columns to fields, turning a row into
the fields a write validates, and rendering records as spreadsheet-safe CSV."""

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from crm_common.errors import ValidationFailed
from crm_common.schema import Field

DELIMITERS = (",", ";", "\t", "|")
LIST_SEPARATOR = ";"
# Lists in one cell: `vip;beijing`. The full-width semicolon is what Chinese input methods type.
_LIST_SPLIT = re.compile(r"[;\uff1b]")
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection): exports
# prefix it with an apostrophe, and imports drop that apostrophe again so a round trip is lossless.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SCALAR_KINDS = ("text", "id", "email", "phone", "choice", "date", "datetime", "decimal", "bool", "int", "number")
LIST_KINDS = ("tags", "ids", "emails", "phones", "choices")
ADDRESS = "address."
CUSTOM = "custom_fields."
_DATE = re.compile(r"^(\d{4})\s*[-/.\u5e74]\s*(\d{1,2})\s*[-/.\u6708]\s*(\d{1,2})\s*\u65e5?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "on", "\u662f", "\u771f", "\u5bf9"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0", "off", "\u5426", "\u5047", "\u9519"})


@dataclass(frozen=True)
class Column:
    """One column of the file that feeds a field: its position, its header and the field path."""

    index: int
    header: str
    target: str


def normalise_name(name: str) -> str:
    """`First Name` and `first-name` both name `first_name`."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def import_targets(fields: Mapping[str, Field], extras: Mapping[str, Field] | None = None) -> dict[str, Field]:
    """The fields a column may feed: scalars and lists as themselves, the parts of the first address
    as `address.<part>`, plus `extras` (fields the importer resolves itself, such as company_name).
    Custom fields (`custom_fields.<key>`) come from their definitions."""
    targets: dict[str, Field] = {}
    for name, spec in fields.items():
        if spec.kind in SCALAR_KINDS or spec.kind in LIST_KINDS:
            targets[name] = spec
        elif spec.kind == "records" and name == "addresses":
            targets.update({ADDRESS + part: sub for part, sub in spec.fields.items()})
    targets.update(extras or {})
    return targets


def _mapping_error(column: str, message: str) -> dict:
    return {"field": f"mapping.{column}", "message": message}


def resolve_columns(
    header: list[str],
    mapping: Any,
    targets: Mapping[str, Field],
    custom_keys: Iterable[str],
    server_owned: Iterable[str] = (),
) -> tuple[list[Column], list[str]]:
    """The columns that feed fields, and the names of those ignored. `mapping` is `{column: field}`
    (null or "" ignores a column); columns it does not name map to the field their header names,
    if any. ValidationFailed lists every problem at once (`mapping.<column>` or `header`)."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in mapping.items()
    ):
        raise ValidationFailed(
            "invalid mapping", [{"field": "mapping", "message": "must be an object of column name to field name"}]
        )
    custom = set(custom_keys)
    owned = set(server_owned)
    errors: list[dict] = []
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, []).append(index)
    for column in mapping:
        if column not in positions:
            errors.append(_mapping_error(column, "is not a column of the file"))
        elif len(positions[column]) > 1:
            errors.append(_mapping_error(column, "names several columns of the file; give them distinct headers"))

    def known(target: str) -> bool:
        if target.startswith(CUSTOM):
            return target.removeprefix(CUSTOM) in custom
        return target in targets

    columns: list[Column] = []
    ignored: list[str] = []
    fed_by: dict[str, str] = {}
    for index, name in enumerate(header):
        if name in mapping:
            target = (mapping[name] or "").strip()
            if not target:
                ignored.append(name)
                continue
            if not known(target):
                if target in owned:
                    problem = f"{target} is set by the server and cannot be imported"
                elif target.startswith(CUSTOM):
                    problem = f"{target} is not a defined custom field"
                else:
                    problem = f"{target} is not a field you can import into"
                errors.append(_mapping_error(name, problem))
                continue
        else:
            target = normalise_name(name)
            if not name.strip() or not known(target):
                ignored.append(name)
                continue
            if len(positions[name]) > 1:
                errors.append({"field": "header", "message": f"column {name!r} appears more than once"})
                continue
        if target in fed_by:
            errors.append(_mapping_error(name, f"{target} is already fed by column {fed_by[target]!r}"))
            continue
        fed_by[target] = name
        columns.append(Column(index, name, target))
    if not columns and not errors:
        errors.append(
            {"field": "mapping", "message": "no column feeds a field: name the columns after fields or give a mapping"}
        )
    if errors:
        raise ValidationFailed(f"{len(errors)} problem(s) with the columns", errors)
    return columns, ignored


def detect_delimiter(text: str) -> str:
    """The delimiter of the header line: whichever of , ; tab | it holds most (comma on a tie)."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def parse_rows(text: str, delimiter: str, first_row: int) -> tuple[list[tuple[int, list[str]]], int]:
    """The records of `text` numbered from `first_row` (a spreadsheet's row numbers: every record
    counts, blank ones too, but blank ones are not returned), and how many records it held."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    number = first_row
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((number, cells))
            number += 1
    except csv.Error as exc:
        raise ValidationFailed(
            f"row {number} cannot be read", [{"field": "file", "message": f"row {number} cannot be read: {exc}"}]
        ) from None
    return rows, number - first_row


def read_header(text: str, delimiter: str | None = None) -> tuple[list[str], str, list[tuple[int, list[str]]], int]:
    """The header (row 1), the delimiter, the data rows after it and the number of records read."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValidationFailed("the file is empty", [{"field": "file", "message": "is empty"}])
    delimiter = delimiter or detect_delimiter(text)
    rows, count = parse_rows(text, delimiter, 1)
    if not rows or rows[0][0] != 1:
        raise ValidationFailed(
            "no header row", [{"field": "file", "message": "row 1 must be the header: the names of the columns"}]
        )
    header = [cell.strip() for cell in rows[0][1]]
    return header, delimiter, rows[1:], count


def _unescape(cell: str) -> str:
    value = cell.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_TRIGGERS:
        return value[1:]
    return value


def _choice(value: str, choices: Iterable[str]) -> str:
    wanted = normalise_name(value)
    return next((c for c in choices if normalise_name(c) == wanted), value)


def _date(value: str) -> str:
    found = _DATE.match(value)
    if not found:
        return value
    try:
        return date(*(int(part) for part in found.groups())).isoformat()
    except ValueError:
        return value


def _bool(value: str) -> bool | str:
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return value


def _number(value: str, integer: bool = False) -> int | float | str:
    plain = value.replace(",", "").replace(" ", "")
    if _INTEGER.match(plain):
        return int(plain)
    if integer or not _NUMBER.match(plain):
        return value
    number = float(plain)
    return number if math.isfinite(number) else value


def _items(value: str) -> list[str]:
    return list(dict.fromkeys(item.strip() for item in _LIST_SPLIT.split(value) if item.strip()))


def convert(value: str, spec: Field) -> Any:
    """A cell's text as the value the field's validation expects; text it cannot read stays text,
    so the validation names the field and says what is wrong."""
    kind = spec.kind
    if kind == "choice":
        return _choice(value, spec.choices)
    if kind == "date":
        return _date(value)
    if kind == "bool":
        return _bool(value)
    if kind in ("int", "number"):
        return _number(value, integer=kind == "int")
    if kind == "choices":
        return [_choice(item, spec.choices) for item in _items(value)]
    if kind in LIST_KINDS:
        return _items(value)
    return value


def convert_custom(value: str, definition: Mapping[str, Any]) -> Any:
    """A cell's text as a custom field of the definition's type (text, number, date, choice,
    multi_choice, boolean)."""
    kind = definition.get("type")
    choices = definition.get("choices") or []
    if kind == "number":
        return _number(value)
    if kind == "boolean":
        return _bool(value)
    if kind == "date":
        return _date(value)
    if kind == "choice":
        return _choice(value, choices)
    if kind == "multi_choice":
        return [_choice(item, choices) for item in _items(value)]
    return value


def row_fields(
    cells: list[str],
    columns: Iterable[Column],
    targets: Mapping[str, Field],
    definitions: Mapping[str, Mapping[str, Any]],
    width: int,
) -> tuple[dict, list[dict]]:
    """One data row as the fields of a write (empty cells are left out), and the row's own problems:
    more cells than the header has columns. Custom fields use their `definitions` by key."""
    problems: list[dict] = []
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        problems.append({"field": "", "message": f"the row has {len(cells)} cells; the header has {width} columns"})
    fields: dict[str, Any] = {}
    address: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for column in columns:
        value = _unescape(cells[column.index]) if column.index < len(cells) else ""
        if not value:
            continue
        target = column.target
        if target.startswith(CUSTOM):
            key = target.removeprefix(CUSTOM)
            custom[key] = convert_custom(value, definitions.get(key) or {})
        elif target.startswith(ADDRESS):
            address[target.removeprefix(ADDRESS)] = convert(value, targets[target])
        else:
            fields[target] = convert(value, targets[target])
    if address:
        fields["addresses"] = [address]
    if custom:
        fields["custom_fields"] = custom
    return fields, problems


# export


def export_columns(
    targets: Mapping[str, Field],
    readable: Iterable[str],
    custom_keys: Iterable[str],
    requested: Any = None,
) -> list[str]:
    """The columns of an export: `requested` (field names, `address.<part>`, `custom_fields.<key>`)
    checked, else id, every importable field, the custom fields and the `readable` server fields."""
    readable = list(readable)
    custom = [CUSTOM + key for key in custom_keys]
    default = ["id", *targets, *custom, *[name for name in readable if name != "id"]]
    if requested is None:
        return list(dict.fromkeys(default))
    if not isinstance(requested, list) or not requested or not all(isinstance(f, str) for f in requested):
        raise ValidationFailed("invalid fields", [{"field": "fields", "message": "must be a non-empty list of names"}])
    allowed = set(default)
    unknown = [f for f in requested if f not in allowed and not f.startswith(CUSTOM)]
    if unknown:
        raise ValidationFailed(
            "unknown fields", [{"field": "fields", "message": f"cannot export: {', '.join(unknown)}"}]
        )
    return list(dict.fromkeys(requested))


def neutralise(text: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cell(record: Mapping[str, Any], column: str) -> str:
    if column.startswith(CUSTOM):
        value = (record.get("custom_fields") or {}).get(column.removeprefix(CUSTOM))
    elif column.startswith(ADDRESS):
        addresses = record.get("addresses") or [{}]
        value = (addresses[0] or {}).get(column.removeprefix(ADDRESS))
    else:
        value = record.get(column)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return neutralise(LIST_SEPARATOR.join(_scalar(item) for item in value))
    return neutralise(_scalar(value))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def render_csv(records: Iterable[Mapping[str, Any]], columns: list[str], header: bool) -> str:
    """Records as CSV rows (CRLF line ends, RFC 4180 quoting), with the header row when asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow([neutralise(c) for c in columns])
    for record in records:
        writer.writerow([cell(record, c) for c in columns])
    return out.getvalue()
