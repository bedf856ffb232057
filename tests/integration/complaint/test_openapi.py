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
