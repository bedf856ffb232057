"""The demo world: deterministic, shaped like the seeds' market, and valid for the APIs."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from services.complaint.api.schemas import (
    ActionBody,
    AssignBody,
    CommentCreate,
    ComplaintCreate,
    EscalateBody,
    ReopenBody,
    ResolveBody,
    SurveyAnswer,
)
from services.complaint.domain.workflow import (
    Category,
    ComplaintState,
    Subcategory,
    allowed_transitions,
    check_subcategory,
)
from services.customer.api.schemas import CustomerCreate
from services.interaction.api.schemas import (
    InteractionCreate,
    OrderCancel,
    OrderCreate,
    OrderReturn,
)
from shared.demo.player import Player, RenewingBearer, Targets, open_clients, remaining_steps
from shared.demo.world import (
    NAMED_ACCOUNTS,
    TRANSITIONS,
    Behaviour,
    CustomerStory,
    WorldConfig,
    generate,
    story,
    summary,
)

AS_OF = datetime(2026, 11, 23, 6, tzinfo=UTC)
CONFIG = WorldConfig(customers=600, seed=7, as_of=AS_OF)
_STEP_MODELS: dict[str, type[BaseModel]] = {
    "acknowledge": ActionBody,
    "start": ActionBody,
    "wait-for-customer": ActionBody,
    "resume": ActionBody,
    "close": ActionBody,
    "assign": AssignBody,
    "escalate": EscalateBody,
    "resolve": ResolveBody,
    "reopen": ReopenBody,
    "comments": CommentCreate,
    "survey": SurveyAnswer,
}


@pytest.fixture(scope="module")
def world() -> list[CustomerStory]:
    return list(generate(CONFIG))


def test_the_same_seed_gives_the_same_world(world: list[CustomerStory]) -> None:
    again = list(generate(CONFIG))
    assert again == world
    # Any customer can be built alone, and does not depend on the world's size.
    assert story(CONFIG, 123) == world[123]
    bigger = WorldConfig(customers=5000, seed=7, as_of=AS_OF)
    assert story(bigger, 123) == world[123]


def test_another_seed_gives_another_world(world: list[CustomerStory]) -> None:
    other = list(generate(WorldConfig(customers=50, seed=8, as_of=AS_OF)))
    assert [s.body["name"] for s in other] != [s.body["name"] for s in world[:50]]
    assert {s.erp for s in other}.isdisjoint(s.erp for s in world)  # ids carry the seed


def test_a_huge_world_streams() -> None:
    stories = generate(WorldConfig(customers=1_000_000, seed=1, as_of=AS_OF))
    first = list(itertools.islice(stories, 3))  # lazy: nothing else is built
    assert [s.erp for s in first] == ["DW1-0000001", "DW1-0000002", "DW1-0000003"]


def test_the_seeds_named_accounts_come_first_among_every_fourth(
    world: list[CustomerStory],
) -> None:
    assert world[0].body["name"] == NAMED_ACCOUNTS[0].name
    assert world[4].body["name"] == NAMED_ACCOUNTS[1].name
    tianyuan = world[4]
    assert tianyuan.behaviour is Behaviour.DRIFTING
    assert tianyuan.body["share_of_volume"] == pytest.approx(80 / 1600, abs=0.001)
    kaida = world[8]  # makes its own cans: a prospect with no orders
    assert kaida.body["name"] == "中山凯达"
    assert kaida.behaviour is Behaviour.PROSPECT and not kaida.orders


def test_proportions_follow_the_market(world: list[CustomerStory]) -> None:
    counts = summary(world)
    share = {b: counts[f"behaviour_{b.value}"] / len(world) for b in Behaviour}
    assert 0.08 <= counts["key_accounts"] / len(world) <= 0.20  # "重点客户只占客户总数的10%"
    assert 0.40 <= share[Behaviour.STEADY] <= 0.60
    assert 0.10 <= share[Behaviour.DRIFTING] <= 0.22
    assert share[Behaviour.CHURNED] > 0.02 and share[Behaviour.NEW] > 0.05
    segments = Counter(s.segment for s in world)
    assert segments.most_common(1)[0][0] == "insecticide_aerosol"
    assert {"beverage_can", "battery_tinplate", "auto_care_aerosol", "paint_aerosol"} <= set(
        segments
    )
    tiers = Counter(s.tier for s in world)
    assert tiers["second_tier"] > tiers["first_tier"] > 0
    assert 0.02 <= tiers["export"] / len(world) <= 0.10
    regions = Counter(s.body["region"] for s in world)
    assert regions.most_common(1)[0][0] == "guangdong" and len(regions) >= 15
    # Key accounts order more often than the rest.
    key = statistics.mean(len(s.orders) for s in world if s.key_account)
    rest = statistics.mean(len(s.orders) for s in world if not s.key_account and s.orders)
    assert key > 1.5 * rest


def test_contacts_use_every_channel_and_some_arrive_through_the_hotline(
    world: list[CustomerStory],
) -> None:
    channels = Counter(a.body["channel"] for s in world for a in s.interactions)
    assert set(channels) == {"phone", "email", "wechat", "web_chat", "visit", "meeting", "sms"}
    ingest = [a for s in world for a in s.activities if a.via_ingest]
    assert ingest and all(a.body["source_system"] == "cc-hotline" for a in ingest)
    assert all(a.body["direction"] == "inbound" for a in ingest)


def _orders_per_day(story: CustomerStory, start: datetime, end: datetime) -> float:
    days = max((end - start).days, 1)
    return sum(start <= o.at < end for o in story.orders) / days


def test_drifting_customers_slow_down_then_stop(world: list[CustomerStory]) -> None:
    drifting = [s for s in world if s.behaviour is Behaviour.DRIFTING]
    assert len(drifting) >= 40
    for s in drifting:
        assert s.drift_from is not None and s.stopped_at is not None
        assert s.drift_from < s.stopped_at < AS_OF - timedelta(days=19)
        assert all(o.at < s.stopped_at for o in s.orders)  # they stop …
        assert not [o for o in s.orders if o.at > AS_OF - timedelta(days=20)]
    # … after their gaps grew: order rate after the drift began vs before, over all of them.
    before = statistics.mean(
        _orders_per_day(s, CONFIG.start, s.drift_from) for s in drifting if s.drift_from
    )
    after = statistics.mean(
        _orders_per_day(s, s.drift_from, s.stopped_at)
        for s in drifting
        if s.drift_from and s.stopped_at
    )
    assert after < 0.6 * before

    # Each one's gaps grew once the drift began, and the silence since is far beyond its
    # usual rhythm (what the scorer's recency-vs-usual-interval signal picks up).
    measurable = stretched = silent = 0
    for s in drifting:
        assert s.drift_from is not None
        times = [o.at for o in s.orders]
        usual = (
            statistics.median(
                (b - a).days for a, b in itertools.pairwise(t for t in times if t <= s.drift_from)
            )
            if sum(t <= s.drift_from for t in times) >= 3
            else None
        )
        if usual is None or times[-1] <= s.drift_from:
            continue
        measurable += 1
        stretched += (times[-1] - times[-2]).days > 1.3 * usual
        silent += (AS_OF - times[-1]).days > 2 * usual
    assert measurable >= 20
    assert stretched >= 0.7 * measurable and silent >= 0.8 * measurable
    # And the bad experience that started it is there.
    assert all(s.complaints for s in drifting if s.orders)


def test_churned_new_and_prospects(world: list[CustomerStory]) -> None:
    for s in world:
        if s.behaviour is Behaviour.CHURNED:
            assert all(o.at < AS_OF - timedelta(days=140) for o in s.orders)
        elif s.behaviour is Behaviour.NEW:
            since = datetime.fromisoformat(s.body["customer_since"])
            assert since > AS_OF - timedelta(days=120)
            assert s.orders and s.orders[0].at >= since
        elif s.behaviour is Behaviour.PROSPECT:
            assert not s.orders and not s.complaints


def test_complaints_cover_the_seeds_kinds_and_outcomes(world: list[CustomerStory]) -> None:
    complaints = [c for s in world for c in s.complaints]
    subcategories = Counter(c.body.get("subcategory") for c in complaints)
    assert set(Subcategory) <= set(subcategories)  # leaks, valves, coating, dents, late …
    assert subcategories["leakage"] > subcategories["dimensions"]
    scenarios = Counter(c.scenario for c in complaints)
    assert {"closed_on_time", "resolved_late", "escalated", "rejected", "reopened"} <= set(
        scenarios
    )
    assert scenarios["open_recent"] + scenarios["open_overdue"] > 0
    assert scenarios["closed_on_time"] > scenarios["resolved_late"]
    scores = Counter(
        step.body.get("score") for c in complaints for step in c.steps if step.action == "survey"
    )
    assert set(scores) >= {1, 2, 3, 4, 5, None}  # None: skipped
    assert any(step.action == "escalate" for c in complaints for step in c.steps)


def _validate_customer(s: CustomerStory) -> None:
    created = CustomerCreate.model_validate(s.body)
    assert created.name and len(created.name) <= 200


def test_every_body_passes_the_apis_validation(world: list[CustomerStory]) -> None:
    customer_id = "cus-0123456789abcdef"
    for s in world:
        _validate_customer(s)
        for activity in s.activities:
            body: dict[str, Any] = {"customer_id": customer_id, **activity.body}
            model = InteractionCreate if activity.kind == "interaction" else OrderCreate
            model.model_validate(body)
        for follow_up in s.follow_ups:
            (OrderCancel if follow_up.kind == "cancel" else OrderReturn).model_validate(
                follow_up.body
            )
        for complaint in s.complaints:
            created = ComplaintCreate.model_validate({"customer_id": customer_id, **complaint.body})
            check_subcategory(Category(created.category), created.subcategory)
            for step in complaint.steps:
                _STEP_MODELS[step.action].model_validate(step.body)


def test_names_are_chinese_mostly_with_some_latin(world: list[CustomerStory]) -> None:
    def chinese(text: str) -> bool:
        return any("\u4e00" <= ch <= "\u9fff" for ch in text)

    names = [s.body["name"] for s in world]
    assert sum(chinese(n) for n in names) > 0.85 * len(names)
    latin_only = [n for n in names if not chinese(n)]
    assert latin_only and all(n.isascii() for n in latin_only if n != "3M")
    assert all(s.body.get("name_latin") for s in world if chinese(s.body["name"]))
    contacts = [c["name"] for s in world for c in s.body["contacts"]]
    assert len(set(contacts)) > 0.5 * len(contacts)


def test_ids_are_unique_across_the_world(world: list[CustomerStory]) -> None:
    erps = [s.erp for s in world]
    orders = [a.body["order_id"] for s in world for a in s.orders]
    contacts = [
        (a.body["source_system"], a.body["external_id"]) for s in world for a in s.interactions
    ]
    complaints = [c.external_id for s in world for c in s.complaints]
    for ids in (erps, orders, contacts, complaints):
        assert len(ids) == len(set(ids))


def test_everything_happens_before_as_of_and_in_order(world: list[CustomerStory]) -> None:
    for s in world:
        assert all(a.at < AS_OF for a in s.activities)
        assert [a.at for a in s.activities] == sorted(a.at for a in s.activities)
        orders = {o.body["order_id"]: o.at for o in s.orders}
        for follow_up in s.follow_ups:
            assert orders[follow_up.order_id] <= follow_up.at < AS_OF
        for complaint in s.complaints:
            times = [complaint.reported_at, *(step.at for step in complaint.steps)]
            assert times == sorted(times) and times[-1] < AS_OF


def test_complaint_steps_follow_the_workflow(world: list[CustomerStory]) -> None:
    for complaint in (c for s in world for c in s.complaints):
        state = ComplaintState.NEW
        for step in complaint.steps:
            if step.action in TRANSITIONS:
                target = ComplaintState(step.state_after)
                assert target in allowed_transitions(state), (complaint.external_id, step)
                state = target
            else:
                assert step.state_after == state.value
            if step.action == "survey":
                assert state in (ComplaintState.RESOLVED, ComplaintState.CLOSED)
        assert complaint.final_state == state.value


def test_a_rerun_resumes_a_complaint_after_the_steps_it_went_through(
    world: list[CustomerStory],
) -> None:
    complaint = next(
        c for s in world for c in s.complaints if c.scenario == "reopened" and len(c.steps) > 6
    )
    steps = complaint.steps
    assert remaining_steps(steps, {"state": "new"}) == list(steps)
    done = {"state": steps[-1].state_after, "reopen_count": steps[-1].reopens_after}
    assert remaining_steps(steps, done) == []
    # Interrupted in the second round (after the reopen): only what follows is played.
    reopen = next(i for i, step in enumerate(steps) if step.action == "reopen")
    middle = {"state": "reopened", "reopen_count": 1}
    assert remaining_steps(steps, middle) == list(steps[reopen + 1 :])


# --- the player's manners, against a fake service ------------------------------------------------


async def test_the_player_waits_as_told_on_429_and_stops_on_401() -> None:
    waits: list[float] = []
    calls: Counter[str] = Counter()

    def answer(request: httpx.Request) -> httpx.Response:
        calls[request.url.path] += 1
        if request.url.path == "/v1/customers":
            if calls["/v1/customers"] == 1:
                return httpx.Response(429, headers={"Retry-After": "3"})
            return httpx.Response(401, json={"detail": "the token has expired"})
        return httpx.Response(500)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    transport = httpx.MockTransport(answer)
    transports = dict.fromkeys(("customer", "interaction", "complaint"), transport)
    async with open_clients(Targets(), {"Authorization": "Bearer t"}, transports=transports) as c:
        player = Player(c, concurrency=1, sleep=sleep)
        report = await player.play(generate(WorldConfig(customers=50, seed=1, as_of=AS_OF)))
    assert waits == [3.0]  # Retry-After honoured
    assert calls["/v1/customers"] == 2  # … and nothing more once access was refused
    assert len(report.errors) == 1 and "401" in report.errors[0]
    assert report.retries == 1


async def test_a_renewing_bearer_fetches_a_new_token_on_401() -> None:
    tokens = iter(["old", "new"])
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        ok = request.headers["Authorization"] == "Bearer new"
        return httpx.Response(201 if ok else 401, json={"id": "cus-1"})

    async def renew() -> str:
        return next(tokens)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), auth=RenewingBearer(renew), base_url="http://x"
    ) as http:
        response = await http.post("/v1/customers", json={})
    assert response.status_code == 201
    assert seen == ["Bearer old", "Bearer new"]
