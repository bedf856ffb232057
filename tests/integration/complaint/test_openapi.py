"""The complaint API documents every action, its If-Match header and its refusals."""

from __future__ import annotations

import httpx


async def test_openapi_lists_the_workflow_actions(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for action in (
        "acknowledge",
        "start",
        "wait-for-customer",
        "resume",
        "resolve",
        "close",
        "reopen",
        "escalate",
        "assign",
    ):
        operation = paths[f"/v1/complaints/{{complaint_id}}/{action}"]["post"]
        assert {"409", "412", "428"} <= set(operation["responses"]), action
        assert "if-match" in {p["name"].lower() for p in operation["parameters"]}, action
    assert "/v1/complaints/stats" in paths
    assert "/v1/complaints/{complaint_id}/survey" in paths
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_openapi_documents_survey_links_and_attachments(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for method, path in (
        ("get", "/v1/surveys/{token}"),
        ("post", "/v1/surveys/{token}"),
        ("post", "/v1/surveys/{token}/skip"),
    ):
        operation = paths[path][method]
        assert "security" not in operation, path  # public: the token is the credential
        assert {"404", "409", "410"} <= set(operation["responses"]), path
    for path in (
        "/v1/complaints/{complaint_id}/attachments",
        "/v1/complaints/{complaint_id}/survey/link",
    ):
        assert paths[path]["post"]["security"], path
    schemas = spec["components"]["schemas"]
    for name in ("SurveyView", "SurveyLinkAnswer", "AttachmentCreate", "AttachmentAdd"):
        assert schemas[name].get("examples"), name
    group_by = next(
        p for p in paths["/v1/complaints/stats"]["get"]["parameters"] if p["name"] == "group_by"
    )
    assert group_by["schema"]["anyOf"][0]["$ref"] == "#/components/schemas/GroupBy"
    assert schemas["GroupBy"]["enum"] == [
        "category",
        "severity",
        "state",
        "assignee",
        "team",
        "week",
        "month",
    ]
