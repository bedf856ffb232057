"""Customer import and export over HTTP on the real stack (FerretDB + Kafka)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.customer.store import CustomerStore
from shared.auth import Role
from shared.settings import ConnectionSettings
from shared.topics import CUSTOMER
from tests.conftest import bearer, unique
from tests.integration.customer.conftest import create, uuid_digits
from tests.integration.messaging_support import TopicTail, header

CSV = {"Content-Type": "text/csv"}
NDJSON = {"Content-Type": "application/x-ndjson"}
HEADER = "external_ids.erp,kind,name,phones,emails,tier,tags\r\n"


async def import_file(
    client: httpx.AsyncClient,
    content: bytes | str | AsyncIterator[bytes],
    headers: dict[str, str],
    **params: Any,
) -> dict[str, Any]:
    body = content.encode() if isinstance(content, str) else content
    response = await client.post(
        "/v1/customers:import", content=body, headers=headers, params=params, timeout=600
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def statuses(report: dict[str, Any]) -> list[tuple[int, str]]:
    return [(result["row"], result["status"]) for result in report["results"]]


def phone() -> str:
    return f"139{uuid_digits()}"


async def test_import_reports_created_updated_unchanged_and_rejected_rows(
    client: httpx.AsyncClient, store: CustomerStore
) -> None:
    kept = await create(client, tier="first_tier", tags=["aerosol"])
    changed = await create(client, tier="third_tier", tags=["aerosol"])
    kept_erp = kept.json()["external_ids"]["erp"]
    changed_erp = changed.json()["external_ids"]["erp"]
    new_erp, bad_erp = unique("C"), unique("C")
    new_phone = phone()

    def contacts(customer: httpx.Response) -> str:
        return f"{';'.join(customer.json()['phones'])},{';'.join(customer.json()['emails'])}"

    csv_text = HEADER + (
        f"{kept_erp},organisation,中山凯达精细化工,{contacts(kept)},first_tier,aerosol\r\n"
        f"{changed_erp},organisation,中山凯达精细化工,{contacts(changed)},first_tier,aerosol;vip\r\n"
        f"{new_erp},person,王伟,{new_phone[:3]} {new_phone[3:7]} {new_phone[7:]},,,\r\n"
        f"{bad_erp},person,李娜,call me,,,\r\n"
        ",organisation,没有编号的客户,,,,\r\n"
    )
    report = await import_file(client, csv_text, {**CSV, **bearer(Role.AGENT, "li.na")})
    assert statuses(report) == [
        (2, "unchanged"),
        (3, "updated"),
        (4, "created"),
        (5, "rejected"),
        (6, "rejected"),
    ]
    assert (report["created"], report["updated"], report["unchanged"], report["rejected"]) == (
        1,
        1,
        1,
        2,
    )
    assert report["stopped"] is None and report["dry_run"] is False
    results = report["results"]
    assert results[0]["customer_id"] == kept.json()["id"]
    assert results[1]["customer_id"] == changed.json()["id"]
    assert (results[3]["field"], results[3]["external_id"]) == ("phones.0", bad_erp)
    assert "not a phone number" in results[3]["reason"]
    assert results[4]["field"] == "external_ids.erp"

    # The update went through PATCH's command: new version, audit entry by the importer.
    updated = (await client.get(f"/v1/customers/{changed.json()['id']}")).json()
    assert (updated["version"], updated["tier"], updated["tags"]) == (
        2,
        "first_tier",
        ["aerosol", "vip"],
    )
    assert updated["external_ids"] == changed.json()["external_ids"]
    assert (await client.get(f"/v1/customers/{kept.json()['id']}")).json()["version"] == 1
    created = (await client.get(f"/v1/customers/{results[2]['customer_id']}")).json()
    assert (created["name"], created["kind"], created["phones"]) == (
        "王伟",
        "person",
        [f"+86{new_phone}"],
    )
    await store.move_audit()
    history = (await client.get(f"/v1/customers/{created['id']}/history")).json()["entries"]
    assert [(entry["action"], entry["actor"]) for entry in history] == [
        ("created", "account:li.na")
    ]

    # The same file again: nothing new, nothing changed.
    again = await import_file(client, csv_text, CSV)
    assert statuses(again) == [
        (2, "unchanged"),
        (3, "unchanged"),
        (4, "unchanged"),
        (5, "rejected"),
        (6, "rejected"),
    ]
    assert again["results"][2]["customer_id"] == created["id"]
    found = (await client.get("/v1/customers", params={"q": new_erp})).json()["items"]
    assert [item["id"] for item in found] == [created["id"]]


async def test_imported_customers_are_published_like_created_ones(
    client: httpx.AsyncClient, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, CUSTOMER.name)
    await tail.mark()
    existing = await create(client)
    lines = [
        {"kind": "organisation", "name": "佛山喷雾", "external_ids": {"erp": unique("C")}},
        {"kind": "person", "name": "张敏", "external_ids": {"erp": unique("C")}, "tags": ["vip"]},
        {"external_ids": existing.json()["external_ids"], "grade_override": "A"},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    report = await import_file(client, body, {**NDJSON, **bearer(Role.AGENT, "wang.lei")})
    assert statuses(report) == [(1, "created"), (2, "created"), (3, "updated")]
    ids = [result["customer_id"] for result in report["results"]]
    keys = {customer_id.encode() for customer_id in ids}
    records = await tail.read(lambda got: len(got) >= 4, keep=lambda record: record.key in keys)
    by_key = {(record.key.decode(), header(record, "ce_type")) for record in records}
    assert by_key == {
        (ids[0], "crm.customer.created.v1"),
        (ids[1], "crm.customer.created.v1"),
        (ids[2], "crm.customer.created.v1"),  # the POST before the import
        (ids[2], "crm.customer.updated.v1"),
    }
    for record in records:
        assert header(record, "ce_actor") in {"account:wang.lei", "account:test-admin"}
        data = json.loads(record.value)
        if header(record, "ce_type") == "crm.customer.updated.v1":
            assert data["changed_fields"] == ["grade_override"]
            assert header(record, "ce_actor") == "account:wang.lei"
        elif record.key == ids[1].encode():
            assert data["profile"]["name"] == "张敏"
            assert data["profile"]["tags"] == ["vip"]


async def test_a_dry_run_reports_and_writes_nothing(
    client: httpx.AsyncClient, store: CustomerStore
) -> None:
    existing = await create(client)
    taken_sap = unique("S")
    await create(client, external_ids={"erp": unique("C"), "sap": taken_sap})
    new_erp = unique("C")
    lines = [
        {"kind": "organisation", "name": "新客户", "external_ids": {"erp": new_erp}},
        {"external_ids": existing.json()["external_ids"], "tier": "second_tier"},
        {"kind": "person", "name": "撞号", "external_ids": {"erp": unique("C"), "sap": taken_sap}},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    report = await import_file(client, body, NDJSON, dry_run="true")
    assert report["dry_run"] is True
    assert statuses(report) == [(1, "created"), (2, "updated"), (3, "rejected")]
    assert report["results"][2]["field"] == "external_ids.sap"
    assert await store.key_holder(f"erp:{new_erp}") is None
    current = (await client.get(f"/v1/customers/{existing.json()['id']}")).json()
    assert current["version"] == 1 and current["tier"] is None
    # The real run does what the dry run said.
    real = await import_file(client, body, NDJSON)
    assert statuses(real) == statuses(report)


async def test_export_is_filtered_and_imports_back_unchanged(client: httpx.AsyncClient) -> None:
    tag = unique("export")
    made = [
        await create(
            client, tags=[tag, "aerosol"], name="中山凯达, 精细化工", notes='两行\n"备注"'
        ),
        await create(
            client,
            tags=[tag],
            kind="person",
            name="王伟",
            consent={"marketing_sms": True},
            external_ids={"erp": unique("C"), "sap": unique("S")},
            addresses=[{"line": "火炬开发区 1 号", "city": "中山", "label": "plant"}],
            customer_since="2019-03-01T00:00:00Z",
        ),
        await create(client, tags=[tag], key_account=False, share_of_volume=0.1),
    ]
    await create(client, tags=["not-this-one"])
    exported = await client.get("/v1/customers:export", params={"tag": tag, "format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith('attachment; filename="customers-')
    assert exported.headers["content-disposition"].endswith('.csv"')
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == [made_one.json()["id"] for made_one in made]
    assert rows[0]["name"] == "中山凯达, 精细化工" and rows[0]["notes"] == '两行\n"备注"'
    assert rows[1]["external_ids.sap"] == made[1].json()["external_ids"]["sap"]
    assert rows[1]["consent.marketing_sms"] == "true" and rows[1]["consent.data_sharing"] == ""
    assert json.loads(rows[1]["addresses"])[0]["city"] == "中山"
    assert rows[0]["phones"] == ";".join(made[0].json()["phones"])

    again = await import_file(client, exported.content, CSV)
    # The first customer's notes take two lines: the next row starts on line 4.
    assert statuses(again) == [(2, "unchanged"), (4, "unchanged"), (5, "unchanged")]

    as_ndjson = await client.get("/v1/customers:export", params={"tag": tag, "format": "ndjson"})
    assert as_ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in as_ndjson.text.splitlines()]
    assert lines == [made_one.json() for made_one in made]
    again = await import_file(client, as_ndjson.content, NDJSON)
    assert statuses(again) == [(1, "unchanged"), (2, "unchanged"), (3, "unchanged")]

    # Edited in a spreadsheet and imported: only the edited customer changes.
    rows[2]["tier"] = "first_tier"
    edited = io.StringIO()
    writer = csv.DictWriter(edited, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    report = await import_file(client, edited.getvalue(), CSV)
    assert [result["status"] for result in report["results"]] == ["unchanged"] * 2 + ["updated"]


async def test_viewers_export_masked_contacts_and_cannot_import(client: httpx.AsyncClient) -> None:
    tag = unique("masked")
    made = await create(client, tags=[tag])
    as_viewer = await client.get(
        "/v1/customers:export", params={"tag": tag, "format": "ndjson"}, headers=bearer(Role.VIEWER)
    )
    assert as_viewer.status_code == 200
    [line] = [json.loads(text) for text in as_viewer.text.splitlines()]
    listed = (
        await client.get("/v1/customers", params={"tag": tag}, headers=bearer(Role.VIEWER))
    ).json()["items"][0]
    assert line == listed
    assert line["phones"][0].startswith("****") and line["phones"] != made.json()["phones"]
    assert line["contacts"][0]["phones"][0].startswith("****")
    refused = await client.post(
        "/v1/customers:import", content=b"[]", headers={**NDJSON, **bearer(Role.VIEWER)}
    )
    assert refused.status_code == 403


async def test_a_large_file_is_imported_in_a_stream(client: httpx.AsyncClient) -> None:
    count = 5_000
    prefix = unique("B")

    async def chunks() -> AsyncIterator[bytes]:
        yield HEADER.encode()
        for start in range(0, count, 250):
            yield "".join(
                f"{prefix}-{n},organisation,批量客户 {n},,,third_tier,bulk\r\n"
                for n in range(start, start + 250)
            ).encode()

    started = time.perf_counter()
    report = await import_file(client, chunks(), CSV)
    seconds = time.perf_counter() - started
    assert (report["created"], report["rejected"], report["stopped"]) == (count, 0, None)
    assert [result["row"] for result in report["results"]] == list(range(2, count + 2))
    print(f"imported {count} customers in {seconds:.1f}s ({count / seconds:.0f}/s)")  # noqa: T201
    found = (await client.get("/v1/customers", params={"q": f"{prefix}-4999"})).json()["items"]
    assert [item["name"] for item in found] == ["批量客户 4999"]


async def test_bad_files_get_4xx_naming_the_problem(client: httpx.AsyncClient) -> None:
    plain = await client.post(
        "/v1/customers:import", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 415 and "text/csv" in plain.text
    charset = await client.post(
        "/v1/customers:import", content=b"x", headers={"Content-Type": "text/csv; charset=klingon"}
    )
    assert charset.status_code == 415 and "klingon" in charset.text
    for body, headers, expected in [
        ("external_ids.erp,name,colour\r\nC1,x,red\r\n", CSV, "unknown columns: colour"),
        ("", CSV, "empty"),
        ('{"name": "x"}', {"Content-Type": "application/json"}, "an array of customers"),
        ("{}", {"Content-Type": "application/json"}, "an array of customers"),
    ]:
        response = await client.post("/v1/customers:import", content=body.encode(), headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert expected in response.json()["detail"]
    not_utf8 = await client.post(
        "/v1/customers:import",
        content=(HEADER + "C1,person,王伟,,,,\r\n").encode("gb18030"),
        headers=CSV,
    )
    assert not_utf8.status_code == 422 and "UTF-8" in not_utf8.text
    # Named, the charset is read.
    gbk = await import_file(
        client,
        (HEADER + f"{unique('C')},person,王伟,,,,\r\n").encode("gb18030"),
        {"Content-Type": "text/csv; charset=gb18030"},
    )
    assert statuses(gbk) == [(2, "created")]


async def test_a_file_broken_midway_keeps_the_rows_before(client: httpx.AsyncClient) -> None:
    good = {"kind": "person", "name": "王伟", "external_ids": {"erp": unique("C")}}
    body = json.dumps([good], ensure_ascii=False)[:-1] + ', {"name": oops}]'
    report = await import_file(client, body, {"Content-Type": "application/json"})
    assert statuses(report) == [(1, "created")]
    assert report["stopped"] is not None and "customer 2 is not JSON" in report["stopped"]
    malformed = HEADER + 'C1,person,"王"伟,,,,\r\nC2,person,"unclosed,,,,\r\n'
    report = await import_file(client, malformed, CSV)
    assert statuses(report) == [(2, "rejected"), (3, "rejected")]
    assert report["results"][1]["reason"] == "a quoted cell is never closed"


async def test_rows_that_clash_or_name_erased_customers_are_rejected(
    client: httpx.AsyncClient,
) -> None:
    holder = await create(client, external_ids={"erp": unique("C"), "sap": unique("S")})
    erased = await create(client)
    assert (await client.post(f"/v1/customers/{erased.json()['id']}/erase")).status_code == 200
    lines = [
        {
            "kind": "person",
            "name": "撞号",
            "external_ids": {"erp": unique("C"), **{"sap": holder.json()["external_ids"]["sap"]}},
        },
        {"external_ids": erased.json()["external_ids"], "phones": ["13800138000"]},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    report = await import_file(client, body, NDJSON)
    assert statuses(report) == [(1, "rejected"), (2, "rejected")]
    assert report["results"][0]["field"] == "external_ids.sap"
    assert holder.json()["id"] in report["results"][0]["reason"]
    assert "erased" in report["results"][1]["reason"]
    assert (await client.get(f"/v1/customers/{erased.json()['id']}")).json()["phones"] == []
    # The clash freed what it reserved: the new erp code is still free.
    retry = await import_file(
        client,
        json.dumps({**lines[0], "external_ids": {"erp": lines[0]["external_ids"]["erp"]}}),
        NDJSON,
    )
    assert statuses(retry) == [(1, "created")]


async def test_new_customers_of_one_file_clashing_on_a_code_keep_the_first(
    client: httpx.AsyncClient, store: CustomerStore
) -> None:
    shared_sap = unique("S")
    erps = [unique("C") for _ in range(3)]
    lines = [
        {"kind": "person", "name": "甲", "external_ids": {"erp": erps[0], "sap": shared_sap}},
        {"kind": "person", "name": "乙", "external_ids": {"erp": erps[1], "sap": shared_sap}},
        {"kind": "person", "name": "丙", "external_ids": {"erp": erps[2]}},
        {"kind": "person", "name": "甲二", "external_ids": {"erp": erps[0]}},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    report = await import_file(client, body, NDJSON)
    assert statuses(report) == [(1, "created"), (2, "rejected"), (3, "created"), (4, "updated")]
    assert report["results"][1]["field"] == "external_ids.sap"
    assert report["results"][3]["customer_id"] == report["results"][0]["customer_id"]
    # The refused customer holds no code: its erp code is free for a corrected row.
    assert await store.key_holder(f"erp:{erps[1]}") is None
    assert await store.key_holder(f"sap:{shared_sap}") == report["results"][0]["customer_id"]
    first = (await client.get(f"/v1/customers/{report['results'][0]['customer_id']}")).json()
    assert (first["name"], first["version"]) == ("甲二", 2)
    assert first["external_ids"] == {"erp": erps[0], "sap": shared_sap}
