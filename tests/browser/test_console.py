"""The web console in headless Chromium, against the real services, Kafka and the scorer.

Each role logs in through the form; the views show data created through the public APIs;
an agent moves a complaint along its workflow from the board; a viewer sees no controls; the
language switches; and a score the scorer recomputes shows up on the open at-risk and 360
pages without a reload (htmx polling). Screenshots land in .artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from services.customer.console import views
from services.customer.console.i18n import LANGUAGES, Messages, catalogue
from services.scoring.domain.reasons import ReasonCode
from tests.browser.conftest import SCREENSHOTS, Account, System, login, post

TIMEOUT_MS = 20_000


# -- the catalogue (no browser needed) -------------------------------------------------------


def test_both_languages_have_the_same_labels_and_every_reason() -> None:
    zh, en = catalogue("zh"), catalogue("en")
    assert set(zh) == set(en)
    for code in ReasonCode:
        assert f"reason.{code.value}" in zh, code
    reason = {"code": "open_complaints", "params": {"count": 2, "worst_severity": "critical"}}
    assert Messages("zh").reason(reason) == "有 2 个投诉尚未解决（最高严重程度：严重）。"
    assert Messages("en").reason(reason) == "Open complaints: 2 (highest severity: Critical)."
    unknown = {"code": "brand_new_code", "params": {}, "text": "An English sentence."}
    assert Messages("zh").reason(unknown) == "An English sentence."
    assert LANGUAGES[0] == "zh"


def test_the_board_offers_the_api_s_transitions_and_orders_by_sla_due_time() -> None:
    now = datetime(2026, 11, 23, 8, tzinfo=UTC)

    def complaint(cid: str, state: str, allowed: list[str], **sla: Any) -> dict[str, Any]:
        return {
            "id": cid,
            "customer_id": "c1",
            "state": state,
            "allowed_transitions": allowed,
            "escalation_level": 0,
            "first_response_at": sla.get("responded"),
            "first_response_due": sla.get("first_due"),
            "resolution_due": sla.get("resolution_due"),
            "sla_paused": sla.get("paused", False),
            "sla_breaches": [],
        }

    new = complaint("a", "new", ["acknowledged"], first_due="2026-11-23T10:00:00Z")
    late = complaint(
        "b",
        "in_progress",
        ["waiting_customer", "resolved"],
        responded="2026-11-20T01:00:00Z",
        resolution_due="2026-11-23T07:00:00Z",
    )
    waiting = complaint("c", "waiting_customer", ["in_progress"], paused=True)
    items = views.board([new, waiting, late], {}, now=now)
    assert [i.complaint["id"] for i in items] == ["b", "a", "c"]
    assert [i.breached for i in items] == [True, False, False]
    assert [i.due_kind for i in items] == ["resolution", "first_response", "paused"]
    assert views.actions_of(new) == ["acknowledge", "escalate"]
    assert views.actions_of(late) == ["wait-for-customer", "resolve", "escalate"]
    assert views.actions_of(waiting) == ["resume", "escalate"]
    closed = complaint("d", "closed", ["reopened"])
    assert views.actions_of(closed) == ["reopen"]


# -- the world the pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    kaida: str  # orders regularly; its score moves during the test
    johnson: str  # a complaint already past its first-response deadline
    breached_complaint: str
    fresh_complaint: str


def _score(api: httpx.Client, system: System, customer_id: str) -> Any:
    answer = api.get(f"{system.urls['scoring']}/v1/scores/{customer_id}")
    return answer.json() if answer.status_code == 200 else None


def _until(
    api: httpx.Client,
    system: System,
    customer_id: str,
    seen: Callable[[Any], bool],
    nudge: Callable[[int], object],
    what: str,
) -> None:
    """Wait until the customer's score shows what `seen` looks for, sending another fact
    (`nudge`) every few seconds meanwhile: a scorer that starts at the end of the topics may
    fix a partition's offset only after the first facts were written, and never see them."""
    deadline = time.monotonic() + 45
    nudged, nudges = time.monotonic(), 0
    while time.monotonic() < deadline:
        score = _score(api, system, customer_id)
        if score is not None and seen(score):
            return
        if time.monotonic() - nudged > 4:
            nudges += 1
            nudge(nudges)
            nudged = time.monotonic()
        time.sleep(0.3)
    raise AssertionError(f"the scorer did not score {what} of {customer_id} within 45 s")


def _open_complaints(score: Any) -> int:
    features = score["features"]
    return sum(int(features.get(f"open_{severity}", 0)) for severity in ("medium", "high"))


@pytest.fixture(scope="module")
def world(system: System, api: httpx.Client) -> World:
    customers = f"{system.urls['customer']}/v1/customers"
    orders = f"{system.urls['interaction']}/v1/orders"
    complaints = f"{system.urls['complaint']}/v1/complaints"
    kaida = post(
        api,
        customers,
        {
            "kind": "organisation",
            "name": "中山凯达精细化工",
            "name_latin": "Zhongshan Kaida Fine Chemical",
            "phones": ["0760-8888 1234"],
            "region": "guangdong",
            "industry": "insecticide",
            "segments": ["insecticide_aerosol"],
            "tier": "first_tier",
            "key_account": True,
            "owner": "王经理",
            "contacts": [{"name": "李娜", "role": "采购经理"}],
        },
    ).json()["id"]

    def touch(n: int) -> None:
        current = api.get(f"{customers}/{kaida}")
        api.patch(
            f"{customers}/{kaida}",
            json={"notes": f"follow-up {n}"},
            headers={"If-Match": current.headers["ETag"]},
        ).raise_for_status()

    _until(api, system, kaida, lambda _: True, touch, "a first score")

    def order(n: int) -> None:
        day = datetime(2026, 9, 1, 2, tzinfo=UTC) + timedelta(days=5 * n)
        post(
            api,
            orders,
            {
                "customer_id": kaida,
                "order_id": f"SO-{kaida[-8:]}-{n}",
                "amount": "225000",
                "ordered_at": day.isoformat(),
            },
        )

    for n in range(4):
        order(n)
    _until(
        api,
        system,
        kaida,
        lambda score: score["features"].get("orders", 0) >= 1,
        lambda n: order(3 + n),
        "orders",
    )
    post(
        api,
        f"{system.urls['interaction']}/v1/interactions",
        {
            "customer_id": kaida,
            "channel": "phone",
            "direction": "outbound",
            "subject": "季度回访",
            "occurred_at": "2026-10-20T03:00:00Z",
            "source_system": "browser-test",
            "external_id": f"call-{kaida}",
        },
    )

    johnson = post(
        api, customers, {"kind": "organisation", "name": "庄臣", "name_latin": "SC Johnson"}
    ).json()["id"]
    post(api, customers, {"kind": "organisation", "name": "Amway China"})
    breached = post(
        api,
        complaints,
        {
            "customer_id": johnson,
            "category": "delivery",
            "subcategory": "late",
            "severity": "high",
            "title": "交货延迟两周",
            "reported_at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        },
    ).json()["id"]

    def complaint(n: int) -> str:
        title = "罐身凹陷" if n == 0 else f"罐身凹陷（第 {n + 1} 批）"
        body = {
            "customer_id": johnson,
            "category": "product_quality",
            "subcategory": "dents_deformation",
            "severity": "medium",
            "title": title,
        }
        complaint_id: str = post(api, complaints, body).json()["id"]
        return complaint_id

    fresh = complaint(0)
    _until(
        api,
        system,
        johnson,
        lambda score: (
            score["features"].get("open_medium", 0) + score["features"].get("open_high", 0) >= 1
        ),
        complaint,
        "open complaints",
    )
    return World(kaida, johnson, breached, fresh)


# -- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    made.set_default_timeout(TIMEOUT_MS)
    yield made
    made.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, system: System, account: Account, *, then: str = "/at-risk") -> None:
    page.goto(system.console + then)
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_contain_text(account.username)


def charts_drawn(page: Page, selector: str = "[data-chart]") -> None:
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(e => e.dataset.drawn === 'true' "
        "&& e.querySelector('svg'))",
        arg=selector,
    )


@pytest.mark.browser
def test_log_in_form_is_chinese_first_and_refuses_a_wrong_password(
    context: BrowserContext, system: System, accounts: dict[str, Account]
) -> None:
    page = context.new_page()
    page.goto(system.console + "/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("input[name=username]", accounts["viewer"].username)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("login-error")).to_have_text("用户名或密码错误。")
    shot(page, "01-login-zh")
    cookies = {c["name"]: c for c in context.cookies()}
    assert "crm_console_access" not in cookies


@pytest.mark.browser
def test_viewer_sees_every_view_and_no_edit_controls(
    context: BrowserContext, system: System, accounts: dict[str, Account], world: World
) -> None:
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, system, accounts["viewer"], then="/at-risk?band=all")
    expect(page.get_by_test_id("band-filter")).to_have_value("all")
    cookie = next(c for c in context.cookies() if c["name"] == "crm_console_access")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("crm_console_access") == -1

    row = page.locator(f"tr[data-customer-id='{world.kaida}']")
    expect(row).to_contain_text("中山凯达精细化工")
    expect(row).to_contain_text("Zhongshan Kaida Fine Chemical")
    expect(row.locator(".reasons li").first).not_to_be_empty()
    shot(page, "02-at-risk-viewer-zh")

    page.goto(f"{system.console}/customers?q=庄臣")
    expect(page.locator(f"tr[data-customer-id='{world.johnson}']")).to_contain_text("SC Johnson")
    page.get_by_test_id("customer-search").fill("凯达")
    page.get_by_test_id("customer-search").press("Enter")
    page.locator(f"tr[data-customer-id='{world.kaida}'] a").click()
    expect(page.get_by_test_id("customer-name")).to_contain_text("中山凯达精细化工")
    expect(page.get_by_test_id("phones")).to_contain_text("****")  # viewers see contacts masked
    expect(page.get_by_test_id("timeline")).to_contain_text("季度回访")
    charts_drawn(page)
    shot(page, "03-customer-360-viewer-zh")

    page.goto(f"{system.console}/complaints")
    expect(page.locator(f"tr[data-complaint-id='{world.breached_complaint}']")).to_be_visible()
    assert page.locator("[data-action]").count() == 0
    assert page.locator("td.actions").count() == 0
    shot(page, "04-board-viewer-zh")

    page.goto(f"{system.console}/overview")
    charts_drawn(page)
    expect(page.get_by_test_id("customers-scored")).not_to_have_text("0")
    shot(page, "05-overview-viewer-zh")
    # Works offline: every script, style and chart library came from the console itself.
    assert any(url.endswith("/console/static/vendor/echarts.min.js") for url in requested)
    assert any(url.endswith("/console/static/vendor/htmx.min.js") for url in requested)
    foreign = [url for url in requested if not url.startswith(system.urls["customer"])]
    assert foreign == []


@pytest.mark.browser
def test_agent_works_a_complaint_from_the_board(
    context: BrowserContext, system: System, accounts: dict[str, Account], world: World
) -> None:
    page = context.new_page()
    log_in(page, system, accounts["agent"], then="/complaints")
    rows = page.locator("table.board tbody tr")
    first = rows.first
    # Ordered by SLA due time: the one past its first-response deadline comes first, marked.
    expect(first).to_have_attribute("data-complaint-id", world.breached_complaint)
    expect(first).to_have_class(re.compile("breached"))
    expect(first.get_by_test_id("breached")).to_have_text("已超时")
    shot(page, "06-board-agent-zh")

    page.evaluate("window.__not_reloaded = true")
    first.locator("button[data-action=acknowledge]").click()
    row = page.locator(f"#complaint-{world.breached_complaint}")
    expect(row.get_by_test_id("state")).to_have_text("已受理")
    expect(row.get_by_test_id("flash")).to_have_text("已更新。")
    row.locator("button[data-action=start]").click()
    expect(row.get_by_test_id("state")).to_have_text("处理中")
    expect(row.locator("summary", has_text="解决")).to_be_visible()
    assert page.evaluate("window.__not_reloaded") is True
    shot(page, "07-board-agent-after-actions-zh")

    state = httpx.get(
        f"{system.urls['complaint']}/v1/complaints/{world.breached_complaint}",
        headers=login(system, accounts["agent"]),
    ).json()["state"]
    assert state == "in_progress"


@pytest.mark.browser
def test_admin_switches_language_and_logs_out(
    context: BrowserContext, system: System, accounts: dict[str, Account], world: World
) -> None:
    page = context.new_page()
    log_in(page, system, accounts["admin"], then="/at-risk?band=all")
    expect(page.locator("h1")).to_have_text("流失风险客户")
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("h1")).to_have_text("Customers at risk")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    row = page.locator(f"tr[data-customer-id='{world.kaida}']")
    expect(row.locator(".reasons li").first).to_contain_text(re.compile(r"[A-Za-z]"))
    shot(page, "08-at-risk-admin-en")
    page.get_by_test_id("tier-filter").select_option("C")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"tier=C"))
    tiers = page.locator("[data-testid=at-risk-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.tier)"
    )
    assert tiers and set(tiers) == {"C"}
    page.goto(f"{system.console}/customers/{world.kaida}")
    charts_drawn(page)
    expect(page.get_by_test_id("phones")).not_to_contain_text("****")
    shot(page, "09-customer-360-admin-en")
    page.goto(f"{system.console}/complaints")
    expect(page.locator(f"#complaint-{world.fresh_complaint} [data-action]").first).to_be_visible()
    page.goto(f"{system.console}/overview")
    charts_drawn(page)
    expect(page.locator("h1")).to_have_text("Overview")
    shot(page, "10-overview-admin-en")
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("h1")).to_have_text("总览")

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/console/login"))
    expect(page.locator(".notice")).to_have_text("您已退出登录。")
    page.goto(f"{system.console}/overview")
    expect(page).to_have_url(re.compile(r"/console/login"))


@pytest.mark.browser
def test_an_expired_access_token_is_refreshed_and_a_dead_session_goes_to_log_in(
    context: BrowserContext, system: System, accounts: dict[str, Account]
) -> None:
    page = context.new_page()
    log_in(page, system, accounts["viewer"], then="/overview")
    _replace_cookie(context, "crm_console_access", "expired.or.forged")
    page.goto(f"{system.console}/overview")  # the refresh token buys a new access token
    expect(page.get_by_test_id("whoami")).to_contain_text(accounts["viewer"].username)
    assert _cookie(context, "crm_console_access") != "expired.or.forged"

    # A live page whose session dies: its next poll answers HX-Redirect to the log-in form,
    # which brings the person back to the same page, filters and all.
    page.goto(f"{system.console}/at-risk?band=all")
    expect(page.get_by_test_id("band-filter")).to_have_value("all")
    _replace_cookie(context, "crm_console_access", "expired.or.forged")
    _replace_cookie(context, "crm_console_refresh", "void")
    expect(page).to_have_url(re.compile(r"/console/login\?reason=expired"))
    expect(page.locator(".notice")).to_have_text("会话已过期，请重新登录。")
    page.fill("input[name=username]", accounts["viewer"].username)
    page.fill("input[name=password]", accounts["viewer"].password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/at-risk\?band=all$"))


@pytest.mark.browser
def test_a_score_change_appears_on_open_pages_without_reloading(
    context: BrowserContext,
    system: System,
    accounts: dict[str, Account],
    api: httpx.Client,
    world: World,
) -> None:
    at_risk = context.new_page()
    log_in(at_risk, system, accounts["agent"], then="/at-risk?band=all")
    c360 = context.new_page()
    c360.goto(f"{system.console}/customers/{world.kaida}")
    charts_drawn(c360)
    facts = c360.get_by_test_id("score-facts")
    before = float(facts.get_attribute("data-risk") or "nan")
    row = at_risk.locator(f"tr[data-customer-id='{world.kaida}']")
    assert float(row.get_attribute("data-risk") or "nan") == pytest.approx(before)
    for page in (at_risk, c360):
        page.evaluate("window.__not_reloaded = true")

    # A critical complaint, escalated: the scorer raises the churn risk and publishes it.
    opened = post(
        api,
        f"{system.urls['complaint']}/v1/complaints",
        {
            "customer_id": world.kaida,
            "category": "product_quality",
            "subcategory": "leakage",
            "severity": "critical",
            "title": "阀门泄漏",
        },
    )
    escalated = api.post(
        f"{system.urls['complaint']}/v1/complaints/{opened.json()['id']}/escalate",
        json={"reason": "manual"},
        headers={"If-Match": opened.headers["ETag"]},
    )
    assert escalated.status_code == 200, escalated.text

    c360.wait_for_function(
        "before => Number(document.querySelector('[data-testid=score-facts]')"
        ".dataset.risk) > before",
        arg=before,
        timeout=30_000,
    )
    at_risk.wait_for_function(
        "([id, before]) => Number(document.querySelector(`tr[data-customer-id='${id}']`)"
        ".dataset.risk) > before",
        arg=[world.kaida, before],
        timeout=10_000,
    )
    expect(c360.get_by_test_id("reasons")).to_contain_text("严重级别的投诉")
    for page in (at_risk, c360):
        assert page.evaluate("window.__not_reloaded") is True
    charts_drawn(c360)
    shot(c360, "11-customer-360-after-score-change-zh")
    shot(at_risk, "12-at-risk-after-score-change-zh")


@pytest.mark.browser
def test_cross_site_posts_are_refused_and_api_errors_are_named(
    system: System, accounts: dict[str, Account]
) -> None:
    viewer = accounts["viewer"]
    form = {"username": viewer.username, "password": viewer.password}
    with httpx.Client(base_url=system.console, timeout=10) as browser_like:
        refused = browser_like.post("/login", data=form, headers={"Origin": "http://evil.example"})
        assert refused.status_code == 403
        logged_in = browser_like.post("/login", data=form)
        assert logged_in.status_code == 303, logged_in.text
        missing = browser_like.get("/customers/cus-does-not-exist")
        assert missing.status_code == 404
        assert "没有找到。" in missing.text
        polled = browser_like.get("/at-risk/rows", headers={"HX-Request": "true"})
        assert polled.status_code == 200 and "<table" in polled.text


def _cookie(context: BrowserContext, name: str) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == name), None)


def _replace_cookie(context: BrowserContext, name: str, value: str) -> None:
    current = next(c for c in context.cookies() if c["name"] == name)
    context.add_cookies(
        [
            {
                "name": name,
                "value": value,
                "domain": current["domain"],
                "path": current["path"],
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
