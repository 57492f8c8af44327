"""CSV reading, column mapping, row conversion and spreadsheet-safe rendering, without I/O."""

import csv
import io

import pytest

from contacts import csv_io, schemas
from crm_common.errors import ValidationFailed
from crm_common.schema import Field

CONTACT_TARGETS = csv_io.import_targets(schemas.CONTACT_FIELDS, {"company_name": Field("text")})
REGION = {"key": "region", "type": "choice", "choices": ["North", "South China"]}
DEFINITIONS = {
    "region": REGION,
    "score": {"key": "score", "type": "number"},
    "vip": {"key": "vip", "type": "boolean"},
    "since": {"key": "since", "type": "date"},
    "channels": {"key": "channels", "type": "multi_choice", "choices": ["wechat", "email"]},
}


def columns(header: list[str], mapping=None) -> list[csv_io.Column]:
    return csv_io.resolve_columns(header, mapping, CONTACT_TARGETS, DEFINITIONS, schemas.SERVER_OWNED)[0]


def fields_of(header: list[str], row: list[str], mapping=None) -> dict:
    fields, problems = csv_io.row_fields(row, columns(header, mapping), CONTACT_TARGETS, DEFINITIONS, len(header))
    assert problems == []
    return fields


def test_the_header_names_its_fields_in_any_case_and_spacing():
    found = columns(["First Name", "last-name", "EMAIL", "notes"])
    assert [(c.header, c.target) for c in found] == [
        ("First Name", "first_name"),
        ("last-name", "last_name"),
        ("EMAIL", "email"),
    ]


def test_the_mapping_names_columns_and_leaves_the_others_to_their_headers():
    found, ignored = csv_io.resolve_columns(
        ["姓", "名", "email", "备注"], {"姓": "last_name", "名": "first_name", "备注": None}, CONTACT_TARGETS, {}
    )
    assert [(c.index, c.target) for c in found] == [(0, "last_name"), (1, "first_name"), (2, "email")]
    assert ignored == ["备注"]


def test_every_mapping_problem_is_reported_at_once():
    with pytest.raises(ValidationFailed) as refused:
        csv_io.resolve_columns(
            ["name", "mail", "mail2", "when"],
            {"name": "nickname", "mail": "email", "mail2": "email", "gone": "phone", "when": "created_at"},
            CONTACT_TARGETS,
            DEFINITIONS,
            schemas.SERVER_OWNED,
        )
    errors = {e["field"]: e["message"] for e in refused.value.errors}
    assert errors["mapping.name"] == "nickname is not a field you can import into"
    assert "already fed by column 'mail'" in errors["mapping.mail2"]
    assert errors["mapping.gone"] == "is not a column of the file"
    assert "set by the server" in errors["mapping.when"]


def test_an_undefined_custom_field_is_refused_and_a_defined_one_accepted():
    with pytest.raises(ValidationFailed) as refused:
        csv_io.resolve_columns(["x"], {"x": "custom_fields.nope"}, CONTACT_TARGETS, DEFINITIONS)
    assert refused.value.errors == [
        {"field": "mapping.x", "message": "custom_fields.nope is not a defined custom field"}
    ]
    assert columns(["custom_fields.region"])[0].target == "custom_fields.region"


def test_a_file_whose_columns_feed_nothing_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        csv_io.resolve_columns(["a", "b"], None, CONTACT_TARGETS, {})
    assert refused.value.errors[0]["field"] == "mapping"


def test_a_mapping_that_is_not_an_object_of_names_is_refused():
    for mapping in (["email"], {"email": 3}):
        with pytest.raises(ValidationFailed):
            csv_io.resolve_columns(["email"], mapping, CONTACT_TARGETS, {})


def test_the_header_is_read_after_a_byte_order_mark_and_the_delimiter_is_detected():
    header, delimiter, rows, count = csv_io.read_header("\ufeff姓名;邮箱\r\n张伟;zhang@example.cn\r\n")
    assert header == ["姓名", "邮箱"]
    assert delimiter == ";"
    assert rows == [(2, ["张伟", "zhang@example.cn"])]
    assert count == 2


def test_tab_separated_text_is_read_as_such():
    assert csv_io.detect_delimiter("first_name\tlast_name\temail\n") == "\t"
    assert csv_io.detect_delimiter("email\n") == ","


def test_rows_keep_their_spreadsheet_numbers_across_blank_lines_and_quoted_newlines():
    text = 'a,b\n1,"two\nlines"\n\n,\n3,4\n'
    header, _, rows, count = csv_io.read_header(text)
    assert rows == [(2, ["1", "two\nlines"]), (5, ["3", "4"])]
    assert count == 5
    more, more_count = csv_io.parse_rows("5,6\n7,8", ",", 6)
    assert more == [(6, ["5", "6"]), (7, ["7", "8"])] and more_count == 2


def test_an_empty_file_or_one_without_a_header_is_refused():
    for text in ("", "  \n", "\n\nemail\nx@y.z\n"):
        with pytest.raises(ValidationFailed):
            csv_io.read_header(text)


def test_an_unreadable_row_is_named():
    with pytest.raises(ValidationFailed) as refused:
        csv_io.parse_rows("a,b\nc," + "d" * 200_000 + "\n", ",", 1)
    assert "row 2" in refused.value.errors[0]["message"]


def test_cells_become_the_values_the_fields_expect():
    header = [
        "first_name",
        "email",
        "tags",
        "other_phones",
        "birthday",
        "lifecycle_stage",
        "address.city",
        "address.country",
        "custom_fields.region",
        "custom_fields.score",
        "custom_fields.vip",
        "custom_fields.since",
        "custom_fields.channels",
    ]
    row = [
        " 伟 ",
        "Zhang@Example.CN",
        "vip; 北京；vip",
        "+86 138 0013 8000;010-1234 5678",
        "1988年5月3日",
        "Sales Qualified",
        "上海",
        "CN",
        "south china",
        "1,234.5",
        "是",
        "2020/1/2",
        "WeChat;email",
    ]
    assert fields_of(header, row) == {
        "first_name": "伟",
        "email": "Zhang@Example.CN",
        "tags": ["vip", "北京"],
        "other_phones": ["+86 138 0013 8000", "010-1234 5678"],
        "birthday": "1988-05-03",
        "lifecycle_stage": "sales_qualified",
        "addresses": [{"city": "上海", "country": "CN"}],
        "custom_fields": {
            "region": "South China",
            "score": 1234.5,
            "vip": True,
            "since": "2020-01-02",
            "channels": ["wechat", "email"],
        },
    }


def test_empty_cells_are_left_out_and_unreadable_values_stay_text_for_validation_to_name():
    header = ["first_name", "email", "birthday", "custom_fields.score"]
    assert fields_of(header, ["Wei", "", "not a date", "lots"]) == {
        "first_name": "Wei",
        "birthday": "not a date",
        "custom_fields": {"score": "lots"},
    }
    assert fields_of(header, ["Wei"]) == {"first_name": "Wei"}  # a short row: the rest is empty


def test_a_row_with_more_cells_than_the_header_is_a_problem():
    layout = columns(["email"])
    _, problems = csv_io.row_fields(["a@b.cn", "extra"], layout, CONTACT_TARGETS, {}, 1)
    assert problems == [{"field": "", "message": "the row has 2 cells; the header has 1 columns"}]
    _, problems = csv_io.row_fields(["a@b.cn", " "], layout, CONTACT_TARGETS, {}, 1)
    assert problems == []


def test_a_formula_cell_is_exported_as_text_and_imported_back_as_it_was():
    record = {"id": "c1", "first_name": '=HYPERLINK("http://evil")', "phone": "+86 10 1234 5678", "tags": ["@x"]}
    text = csv_io.render_csv([record], ["id", "first_name", "phone", "tags"], header=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["c1", '\'=HYPERLINK("http://evil")', "'+86 10 1234 5678", "'@x"]
    back = fields_of(["first_name", "phone", "tags"], rows[1][1:])
    assert back == {"first_name": record["first_name"], "phone": record["phone"], "tags": ["@x"]}


def test_an_export_renders_lists_custom_fields_and_the_first_address():
    record = {
        "id": "c1",
        "last_name": "王",
        "tags": ["vip", "北京"],
        "custom_fields": {"region": "North", "vip": False},
        "addresses": [{"city": "北京", "line1": "长安街 1 号"}, {"city": "上海"}],
        "preferences": {"newsletter": True},
        "email": None,
    }
    wanted = ["id", "last_name", "tags", "custom_fields.region", "custom_fields.vip", "address.city", "email"]
    text = csv_io.render_csv([record], wanted + ["preferences"], header=True)
    assert text.splitlines()[1] == 'c1,王,vip;北京,North,false,北京,,"{""newsletter"":true}"'
    assert text.endswith("\r\n")


def test_export_columns_default_to_every_field_and_check_the_ones_asked_for():
    targets = csv_io.import_targets(schemas.CONTACT_FIELDS)
    default = csv_io.export_columns(targets, ("display_name", "created_at"), ["region"])
    assert default[0] == "id" and "address.city" in default and "custom_fields.region" in default
    assert default[-2:] == ["display_name", "created_at"]
    assert csv_io.export_columns(targets, (), [], ["email", "custom_fields.any"]) == ["email", "custom_fields.any"]
    with pytest.raises(ValidationFailed):
        csv_io.export_columns(targets, (), [], ["email", "password"])
    with pytest.raises(ValidationFailed):
        csv_io.export_columns(targets, (), [], [])
