"""Import files to rows and rows to validated customer fields (pure: no stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.customer.api.import_rows import ImportRow, Rejection, import_row
from services.customer.domain.transfer import (
    CsvReader,
    FileProblem,
    JsonArrayReader,
    NdjsonReader,
    RawRow,
    cells_of_customer,
    csv_columns,
    csv_line,
    import_patch,
)

HEADER = "external_ids.erp,kind,name,phones,tags,key_account,consent.marketing_sms,notes\r\n"


def read(
    reader: CsvReader | NdjsonReader | JsonArrayReader, data: bytes, size: int
) -> list[RawRow]:
    """Feed `data` in chunks of `size` bytes, as a request stream would arrive."""
    rows: list[RawRow] = []
    for start in range(0, len(data), size):
        rows += reader.feed(data[start : start + size])
    return rows + reader.close()


CSV = (
    HEADER
    + "C001,organisation,中山凯达,0760-8888 1234; 138 0013 8000,aerosol;vip,true,,\r\n"
    + 'C002,person,王伟,,,,yes,"two\r\nlines, with ""quotes"""\r\n'
    + "\r\n"
    + "C003,organisation,佛山喷雾,,,false,no,\r\n"
).encode()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_csv_rows_are_the_same_in_any_chunking(size: int) -> None:
    rows = read(CsvReader(), CSV, size)
    assert [row.row for row in rows] == [2, 3, 6]
    first, second, third = (row.fields for row in rows)
    assert first == {
        "external_ids": {"erp": "C001"},
        "kind": "organisation",
        "name": "中山凯达",
        "phones": ["0760-8888 1234", "138 0013 8000"],
        "tags": ["aerosol", "vip"],
        "key_account": "true",
        "notes": None,
    }
    assert second is not None and second["notes"] == 'two\r\nlines, with "quotes"'
    assert second["consent"] == {"marketing_sms": "yes"}
    assert "key_account" not in second  # blank: left as it is
    assert second["phones"] == [] and second["tags"] == []
    assert third is not None and third["key_account"] == "false"


def test_a_bom_is_dropped_and_chinese_survives_a_split_character() -> None:
    data = "\ufeff".encode() + CSV
    # Split inside the three bytes of 中: the decoder must wait for the rest.
    at = data.index("中".encode()) + 1
    reader = CsvReader()
    rows = reader.feed(data[:at]) + reader.feed(data[at:]) + reader.close()
    assert reader.columns is not None and reader.columns[0] == "external_ids.erp"
    assert rows[0].fields is not None and rows[0].fields["name"] == "中山凯达"


def test_csv_in_gb18030_is_read_when_the_charset_says_so() -> None:
    rows = read(CsvReader("gb18030"), CSV.decode().encode("gb18030"), 5)
    assert rows[0].fields is not None and rows[0].fields["name"] == "中山凯达"


def test_csv_that_is_not_utf8_is_a_file_problem_saying_where() -> None:
    with pytest.raises(FileProblem, match=r"byte \d+ is not utf-8"):
        read(CsvReader(), CSV.decode().encode("gb18030"), 1000)


def test_bad_csv_rows_reject_only_themselves() -> None:
    data = (
        HEADER + "C001,organisation,only three\r\n" + 'C002,person,"王"伟,,,,,\r\n'
        "C003,organisation,好,,,,,\r\n"
    ).encode()
    rows = read(CsvReader(), data, 10)
    assert [(row.row, row.fields is None) for row in rows] == [(2, True), (3, True), (4, False)]
    assert rows[0].problem == "3 cells where the header has 8 columns"
    assert rows[1].problem is not None and rows[1].problem.startswith("not CSV")


def test_an_unclosed_quote_at_the_end_rejects_its_row() -> None:
    rows = read(CsvReader(), (HEADER + 'C001,person,"never closed\r\n').encode(), 4)
    assert rows == [RawRow(2, None, "a quoted cell is never closed")]


def test_a_bad_json_cell_names_its_column() -> None:
    data = ("external_ids.erp,kind,name,contacts\r\nC1,person,王伟,[{oops\r\n").encode()
    rows = read(CsvReader(), data, 100)
    assert rows[0].problem is not None and rows[0].problem.startswith("contacts: not a JSON")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("external_ids.erp,name,favourite_colour\r\n", "unknown columns: favourite_colour"),
        ("external_ids.erp,name,name\r\n", "columns given twice: name"),
        ("external_ids.,name\r\n", "unknown columns: external_ids."),
        ("external_ids.a.b,name\r\n", "unknown columns: external_ids.a.b"),
    ],
)
def test_a_bad_header_is_a_file_problem(header: str, message: str) -> None:
    with pytest.raises(FileProblem, match=message):
        read(CsvReader(), header.encode(), 100)


def test_an_empty_csv_is_a_file_problem() -> None:
    with pytest.raises(FileProblem, match="empty"):
        read(CsvReader(), b"", 100)


def test_ndjson_rows_and_bad_lines() -> None:
    data = '{"name": "中山"}\n\nnot json\n[1]\n{"name": "末行"}'.encode()
    rows = read(NdjsonReader(), data, 3)
    assert [(row.row, row.fields) for row in rows] == [
        (1, {"name": "中山"}),
        (3, None),
        (4, None),
        (5, {"name": "末行"}),
    ]
    assert rows[2].problem == "not a JSON object"


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_json_array_elements_in_any_chunking(size: int) -> None:
    items: list[Any] = [{"name": "中山", "tags": ["a", "]"]}, 7, {"name": "x, y"}]
    rows = read(JsonArrayReader(), json.dumps(items, ensure_ascii=False, indent=1).encode(), size)
    assert [(row.row, row.fields) for row in rows] == [(1, items[0]), (2, None), (3, items[2])]
    assert read(JsonArrayReader(), b" [ ] ", size) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"name": "x"}', "an array of customers"),
        (b"", "empty"),
        (b'[{"name": "x"}, {"name": ', "ends early"),
        (b'[{"name": "x"} {"name": "y"}]', "expected , or ]"),
        (b'[{"name": "x"}] [', "follows the JSON array"),
        (b'[{"name": x}]', "customer 1 is not JSON"),
    ],
)
def test_broken_json_is_a_file_problem(data: bytes, message: str) -> None:
    with pytest.raises(FileProblem, match=message):
        read(JsonArrayReader(), data, 4)


def _row(fields: dict[str, Any], row: int = 2) -> ImportRow | Rejection:
    return import_row(RawRow(row, fields), system="erp")


def test_a_row_is_normalised_like_a_create() -> None:
    row = _row(
        {
            "external_ids": {"erp": " C001 "},
            "kind": "organisation",
            "name": " 中山凯达 ",
            "phones": ["138 0013 8000", "+86 13800138000"],
            "key_account": "true",
            "consent": {"marketing_sms": "yes"},
            "id": "cus-ignored",
            "version": 9,
        }
    )
    assert isinstance(row, ImportRow)
    assert row.key == "erp:C001"
    assert row.fields == {
        "external_ids": {"erp": "C001"},
        "kind": "organisation",
        "name": "中山凯达",
        "phones": ["+8613800138000"],
        "key_account": True,
        "consent": {"marketing_sms": True},
    }
    assert row.for_create() == row.fields


def test_a_row_without_the_match_code_is_rejected() -> None:
    rejected = _row({"kind": "person", "name": "王伟", "external_ids": {"sap": "9"}})
    assert isinstance(rejected, Rejection)
    assert rejected.field == "external_ids.erp"
    assert "twice" in rejected.reason


def test_a_bad_row_names_the_field_and_the_reason() -> None:
    rejected = _row(
        {
            "external_ids": {"erp": "C9"},
            "kind": "person",
            "name": "王伟",
            "phones": ["call me"],
            "share_of_volume": "2",
        },
        row=7,
    )
    assert isinstance(rejected, Rejection)
    assert (rejected.row, rejected.field, rejected.external_id) == (7, "phones.0", "C9")
    assert "phones.0: " in rejected.reason and "share_of_volume: " in rejected.reason


def test_a_partial_row_may_update_but_not_create() -> None:
    row = _row({"external_ids": {"erp": "C1"}, "owner": "wang.lei"})
    assert isinstance(row, ImportRow)
    created = row.for_create()
    assert isinstance(created, Rejection)
    assert "required on create: kind, name" in created.reason


def test_unreadable_rows_are_rejected_with_their_problem() -> None:
    rejected = import_row(RawRow(4, None, "not CSV: boom"), system="erp")
    assert rejected == Rejection(4, None, "not CSV: boom")


def test_an_import_adds_external_ids_and_consent_but_replaces_lists() -> None:
    before = {
        "external_ids": {"erp": "C1", "sap": "9"},
        "consent": {"marketing_sms": True},
        "tags": ["a", "b"],
    }
    patch = import_patch(
        before,
        {
            "external_ids": {"erp": "C1", "crm_old": "X"},
            "consent": {"data_sharing": False},
            "tags": ["c"],
        },
    )
    assert patch == {
        "external_ids": {"erp": "C1", "sap": "9", "crm_old": "X"},
        "consent": {"marketing_sms": True, "data_sharing": False},
        "tags": ["c"],
    }


def test_an_exported_row_reads_back_as_the_same_fields() -> None:
    customer = {
        "id": "cus-1",
        "version": 3,
        "kind": "organisation",
        "name": "中山凯达, 精细化工",
        "name_latin": None,
        "phones": ["+8613800138000", "+867608881234"],
        "emails": [],
        "external_ids": {"erp": "C001"},
        "consent": {"marketing_email": False},
        "key_account": True,
        "contacts": [{"name": "李娜", "role": "采购经理", "phones": ["+8613900000001"]}],
        "addresses": [],
        "notes": 'line one\nline "two"',
        "share_of_volume": 0.35,
    }
    columns = csv_columns(["erp"])
    data = (csv_line(columns) + csv_line(cells_of_customer(customer, columns))).encode()
    [row] = read(CsvReader(), data, 9)
    imported = import_row(row, system="erp")
    assert isinstance(imported, ImportRow)
    for name in ("kind", "name", "name_latin", "phones", "emails", "external_ids", "contacts"):
        assert imported.fields[name] == customer[name], name
    assert imported.fields["consent"] == {"marketing_email": False}  # absent flags stay absent
    assert imported.fields["notes"] == customer["notes"]
    assert imported.fields["share_of_volume"] == 0.35


def test_a_file_problem_carries_the_rows_read_before_it() -> None:
    reader = JsonArrayReader()
    with pytest.raises(FileProblem, match="expected , or ]") as caught:
        reader.feed(b'[{"name": "a"}, {"name": "b"} {"name": "c"}]')
    assert [row.fields for row in caught.value.rows] == [{"name": "a"}, {"name": "b"}]
    csv_reader = CsvReader()
    csv_reader.feed(HEADER.encode())
    too_long = b"C1,person,x,,,,,ok\r\n" + b'C2,person,"' + b"x" * 1_000_001
    with pytest.raises(FileProblem, match="longer than") as caught:
        csv_reader.feed(too_long)
    assert [row.row for row in caught.value.rows] == [2]
