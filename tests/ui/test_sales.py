"""Sales in the browser: move a deal across the pipeline board (drag-and-drop at desktop width, the
"Move to stage" select at phone width, a refused move rolled back), tasks due today, the forecast chart.
Every outcome is checked through the public API as well as on the page."""

import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.ui.helpers import goto


def poll(fetch, accept, timeout=10.0):
    """Call fetch() until accept(result) holds; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if accept(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


@pytest.fixture(scope="module")
def pipeline(api):
    response = api.get("/pipelines/default")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def contact(api):
    return api.create("/contacts", {"first_name": "Board", "last_name": f"Tester {uuid.uuid4().hex[:6]}"})


def new_deal(api, contact, stage_id, **extra):
    title = f"UI deal {uuid.uuid4().hex[:8]}"
    body = {"title": title, "amount": "1234.50", "currency": "CNY", "contact_id": contact["id"], "stage_id": stage_id}
    return api.create("/deals", {**body, **extra})


def deal_stage(api, deal_id):
    return api.get(f"/deals/{deal_id}").json()["stage_id"]


def open_board(page):
    goto(page, "/sales?pipeline=default", "sales-board")
    expect(page.locator('[data-test="stage-column"]').first).to_be_visible()


def card(page, deal_id):
    return page.locator(f'[data-test="deal-card"][data-deal-id="{deal_id}"]')


def column(page, stage_id):
    return page.locator(f'[data-test="stage-column"][data-stage-id="{stage_id}"]')


def in_column(page, stage_id, deal_id):
    """The deal's card in that stage's column."""
    return column(page, stage_id).locator(f'[data-test="deal-card"][data-deal-id="{deal_id}"]')


def test_drag_a_deal_to_the_next_stage_at_desktop_width(api, pipeline, contact, page_desktop, signed_in):
    first, second = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
    deal = new_deal(api, contact, first)
    signed_in(page_desktop, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_board(page_desktop)
    source = in_column(page_desktop, first, deal["id"])
    expect(source).to_be_visible()
    expect(source.locator('[data-test="deal-amount"]')).to_contain_text("1,234.50")

    source.drag_to(column(page_desktop, second).locator("h2"))

    expect(in_column(page_desktop, second, deal["id"])).to_be_visible()
    expect(page_desktop.locator('[data-test="toast"]').first).to_contain_text(deal["title"])
    assert poll(lambda: deal_stage(api, deal["id"]), lambda s: s == second) == second
    # The card now carries the new version: a second move by its select succeeds too.
    third = pipeline["stages"][2]["id"]
    card(page_desktop, deal["id"]).locator('[data-test="move-stage"]').select_option(third)
    expect(in_column(page_desktop, third, deal["id"])).to_be_visible()
    assert poll(lambda: deal_stage(api, deal["id"]), lambda s: s == third) == third


def test_move_a_deal_with_the_select_at_phone_width(api, pipeline, ui_seed, page_phone, signed_in):
    """A sales rep on a phone moves their own deal (a touch screen has no drag-and-drop)."""
    rep = ui_seed["users"]["rep"]
    first, second = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
    deal = new_deal(api, ui_seed["contact"], first, owner_id=rep["id"])
    signed_in(page_phone, **rep)
    open_board(page_phone)
    board = page_phone.locator('[data-test="board"]')
    # The board scrolls sideways at phone width rather than squeezing its columns.
    assert board.evaluate("el => el.scrollWidth > el.clientWidth")
    select = card(page_phone, deal["id"]).locator('[data-test="move-stage"]')
    expect(select).to_be_visible()

    select.select_option(second)

    expect(in_column(page_phone, second, deal["id"])).to_have_count(1)
    assert poll(lambda: deal_stage(api, deal["id"]), lambda s: s == second) == second


def test_a_refused_move_is_rolled_back_with_a_toast(api, pipeline, contact, page_desktop, signed_in):
    first, second = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
    deal = new_deal(api, contact, first)
    signed_in(page_desktop, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_board(page_desktop)
    expect(card(page_desktop, deal["id"])).to_be_visible()
    # Someone else changes the deal after the board was read: the board's If-Match is stale (412).
    assert api.patch(f"/deals/{deal['id']}", {"title": deal["title"] + " (edited)"}).status_code == 200

    card(page_desktop, deal["id"]).locator('[data-test="move-stage"]').select_option(second)

    expect(page_desktop.locator('[data-test="toast"]').last).to_be_visible()
    expect(in_column(page_desktop, first, deal["id"])).to_have_count(1)
    expect(in_column(page_desktop, second, deal["id"])).to_have_count(0)
    assert deal_stage(api, deal["id"]) == first


def test_tasks_due_today_lists_a_seeded_task_and_marks_it_done(api, ui_page, signed_in):
    page = ui_page
    signed_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    # Late today in the browser's own time zone, so the task is due "today" wherever the test runs.
    due = page.evaluate("() => { const d = new Date(); d.setHours(23, 30, 0, 0); return d.toISOString(); }")
    task = api.create("/tasks", {"title": f"Call back {uuid.uuid4().hex[:6]}", "kind": "call", "due_at": due})
    goto(page, "/tasks", "tasks")
    today = page.locator('[data-test="tasks-today"]')
    item = today.locator(f'[data-test="task-item"][data-task-id="{task["id"]}"]')
    expect(item).to_contain_text(task["title"])

    item.locator('[data-test="task-done"]').click()

    expect(item).to_have_count(0)
    assert poll(lambda: api.get(f"/tasks/{task['id']}").json()["done"], bool) is True


def test_the_forecast_chart_renders_with_its_table(api, pipeline, contact, page_desktop, signed_in):
    month = time.strftime("%Y-%m")
    new_deal(api, contact, pipeline["stages"][2]["id"], expected_close_date=f"{month}-28")
    signed_in(page_desktop, ADMIN_EMAIL, ADMIN_PASSWORD)
    goto(page_desktop, f"/reports/forecast?period=month&from={month}&to={month}", "reports")
    chart = page_desktop.locator('svg[data-test="forecast-chart"]')
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar").count() >= 5
    assert chart.get_attribute("role") == "img"

    page_desktop.locator('[data-test="forecast-toggle"]').click()

    table = page_desktop.locator('[data-test="forecast-table"]')
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr").first).to_contain_text(month)
    expect(chart).to_be_hidden()


def test_the_deal_page_and_the_other_reports_open(api, pipeline, contact, page_desktop, signed_in):
    deal = new_deal(api, contact, pipeline["stages"][0]["id"])
    signed_in(page_desktop, ADMIN_EMAIL, ADMIN_PASSWORD)
    goto(page_desktop, f"/deals/{deal['id']}", "deal")
    expect(page_desktop.locator('[data-test="deal-title"]')).to_have_text(deal["title"])
    page_desktop.locator('[data-test="deal-win"]').click()
    expect(page_desktop.locator('[data-test="deal-status"]')).to_have_text("Won")
    assert poll(lambda: api.get(f"/deals/{deal['id']}").json()["status"], lambda s: s == "won") == "won"
    for tab, selector in (
        ("funnel", '[data-page="reports"] [data-test="funnel"], [data-test="empty"]'),
        ("value", '[data-test="grades-chart"]'),
        ("churn", '[data-test="churn-table"]'),
    ):
        goto(page_desktop, f"/reports/{tab}", "reports")
        expect(page_desktop.locator(selector).first).to_be_visible()
