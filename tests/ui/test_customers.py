"""Contacts, companies and the 360-degree customer page in a real browser, at desktop and phone
width: a customer found by a Chinese name through the list's filter, the 360 page with a call logged
onto its timeline, a new contact warned about as a duplicate while it is typed (then created anyway
and merged), claiming from and releasing to the pool, and bulk tagging into a saved segment."""

import uuid

from playwright.sync_api import expect

from tests.ui.helpers import goto


def _rep_api(api, ui_seed):
    rep = ui_seed["users"]["rep"]
    return api.sign_in_as(rep["email"], rep["password"])


def test_a_customer_is_found_by_chinese_name_and_a_call_is_logged_on_the_360_page(ui_page, signed_in, ui_seed):
    page = signed_in(ui_page, **ui_seed["users"]["rep"])
    contact = ui_seed["contact"]
    goto(page, "/contacts", "contacts")
    page.fill("[data-test=customer-search]", ui_seed["name"])  # 邝昊: last name 邝 + first name 昊
    rows = page.locator("[data-test=contact-table] tbody tr")
    expect(rows).to_have_count(1)
    link = rows.first.locator("[data-test=customer-link]")
    expect(link).to_contain_text(ui_seed["name"])
    link.click()

    root = page.locator("main [data-page=customer]")
    expect(root).to_be_visible()
    expect(page.locator("[data-test=customer-name]")).to_have_text(ui_seed["name"])
    expect(page.locator("[data-test=profile-email]")).to_have_text(contact["email"])
    expect(page.locator("[data-test=company-link]")).to_have_text("邝氏贸易")
    expect(page.locator("[data-test=custom-fields]")).to_be_visible()
    expect(page.locator("[data-test=timeline-entry]").first).to_be_visible()

    subject = f"回访电话 {page.width_name} {uuid.uuid4().hex[:6]}"
    page.click("[data-test=log-interaction]")
    dialog = page.locator("[data-test=interaction-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-test=ix-kind]")).to_have_value("call")
    dialog.locator("[data-test=ix-subject]").fill(subject)
    dialog.locator("[data-test=ix-summary]").fill("客户希望下周收到报价")
    dialog.locator("[data-test=ix-duration]").fill("5")
    dialog.locator("[data-test=submit]").click()
    expect(dialog).to_be_hidden()
    entry = page.locator("[data-test=timeline-entry]", has_text=subject)
    expect(entry).to_be_visible()
    expect(entry).to_have_attribute("data-kind", "interaction")
    # The kind filter keeps it; another kind hides it.
    page.click("[data-test=timeline-kind-ticket]")
    expect(page.locator("[data-test=timeline-entry]", has_text=subject)).to_have_count(0)
    page.click("[data-test=timeline-kind-interaction]")
    expect(page.locator("[data-test=timeline-entry]", has_text=subject)).to_be_visible()


def test_a_new_contact_is_warned_about_as_a_duplicate_while_typed_then_merged(ui_page, signed_in, ui_seed, api):
    rep_api = _rep_api(api, ui_seed)
    tag = uuid.uuid4().hex[:8]
    phone = f"+86 139 {uuid.uuid4().int % 10**8:08d}"
    existing = rep_api.create(
        "/contacts", {"last_name": "欧阳", "first_name": "娜娜", "email": f"nana.{tag}@example.cn", "phone": phone}
    )
    page = signed_in(ui_page, **ui_seed["users"]["rep"])
    goto(page, "/contacts/new", "contact-edit")
    form = page.locator("[data-test=contact-form]")
    form.locator("[data-test=last_name]").fill("欧阳")
    form.locator("[data-test=first_name]").fill("娜娜")
    form.locator("[data-test=email]").fill(f"NANA.{tag}@Example.cn")  # another spelling of the same email
    warning = page.locator("[data-test=duplicate-warning]")
    expect(warning).to_be_visible()
    expect(warning.locator(f"[data-test=duplicate-candidate][data-id='{existing['id']}']")).to_be_visible()

    # Saving is refused (409) until the rep chooses to create anyway.
    form.locator("[data-test=submit]").click()
    page.click("[data-test=create-anyway]")
    expect(page.locator("main [data-page=customer]")).to_be_visible()
    new_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert new_id != existing["id"]

    # Merge: the open record is kept, the earlier one merged into it.
    page.click("[data-test=find-duplicates]")
    dialog = page.locator("[data-test=merge-dialog]")
    expect(dialog).to_be_visible()
    item = dialog.locator(f"[data-test=merge-item][data-id='{existing['id']}']")
    expect(item.locator("[data-test=merge-duplicate]")).to_be_checked()
    dialog.locator("[data-test=merge-confirm]").click()
    expect(dialog).to_be_hidden()
    assert rep_api.get(f"/contacts/{existing['id']}").status_code == 404
    merged = rep_api.get(f"/contacts/{new_id}").json()
    assert merged["phone"] == existing["phone"]  # an empty field took the duplicate's value


def test_a_pool_customer_is_claimed_and_released(ui_page, signed_in, ui_seed, api):
    rep_api = _rep_api(api, ui_seed)
    given = "池" + uuid.uuid4().hex[:4]
    pooled = rep_api.create("/contacts", {"last_name": "公海", "first_name": given, "owner_id": None})
    assert pooled["owner_id"] is None
    page = signed_in(ui_page, **ui_seed["users"]["rep"])
    goto(page, "/pool", "pool")
    page.fill("[data-test=customer-search]", given)
    row = page.locator(f"[data-test=contact-table] tbody tr[data-id='{pooled['id']}']")
    expect(row).to_be_visible()
    row.locator("[data-test=claim]").click()
    expect(row).to_have_count(0)
    assert rep_api.get(f"/contacts/{pooled['id']}").json()["owner_id"] == ui_seed["users"]["rep"]["id"]

    goto(page, f"/contacts/{pooled['id']}", "customer")
    page.click("[data-test=release]")
    dialog = page.locator("[data-test=release-dialog]")
    dialog.locator("[data-test=release-reason]").fill("不再跟进")
    dialog.locator("[data-test=submit]").click()
    expect(page.locator("[data-test=pool-info]")).to_contain_text("不再跟进")
    expect(page.locator("[data-test=claim]")).to_be_visible()


def test_bulk_tag_and_a_saved_segment(page_desktop, signed_in, ui_seed, api):
    rep_api = _rep_api(api, ui_seed)
    mark = uuid.uuid4().hex[:6]
    ids = {
        rep_api.create("/contacts", {"last_name": "批量", "first_name": f"{mark}甲", "lifecycle_stage": "lead"})["id"],
        rep_api.create("/contacts", {"last_name": "批量", "first_name": f"{mark}乙", "lifecycle_stage": "lead"})["id"],
    }
    page = signed_in(page_desktop, **ui_seed["users"]["rep"])
    goto(page, "/contacts", "contacts")
    page.fill("[data-test=customer-search]", mark)
    page.select_option("[data-test=filter-stage]", "lead")
    rows = page.locator("[data-test=contact-table] tbody tr")
    expect(rows).to_have_count(2)
    page.check("[data-test=select-all]")
    expect(page.locator("[data-test=bulk-count]")).to_contain_text("2")
    page.click("[data-test=bulk-tag]")
    page.fill("[data-test=bulk-tag-input]", f"vip-{mark}")
    page.locator("[data-test=bulk-tag-dialog] [data-test=submit]").click()
    expect(page.locator("[data-test=toast]", has_text="2 done")).to_be_visible()
    for contact_id in ids:
        assert f"vip-{mark}" in rep_api.get(f"/contacts/{contact_id}").json()["tags"]

    # Save the filter as a segment; applying it later lists the same customers.
    page.click("[data-test=filters-clear]")
    page.fill("[data-test=filter-tag]", f"vip-{mark}")
    expect(rows).to_have_count(2)
    page.click("[data-test=segment-save]")
    page.fill("[data-test=segment-name]", f"VIP {mark}")
    page.locator("[data-test=segment-dialog] [data-test=submit]").click()
    select = page.locator("[data-test=segment-select]")
    expect(select.locator("option:checked")).to_have_text(f"VIP {mark}")
    expect(rows).to_have_count(2)
    expect(page.locator("[data-test=filter-tag]")).to_have_value("")


def test_a_company_is_found_and_its_360_page_lists_its_contacts(ui_page, signed_in, ui_seed):
    page = signed_in(ui_page, **ui_seed["users"]["rep"])
    goto(page, "/companies", "companies")
    page.fill("[data-test=customer-search]", "邝氏")
    rows = page.locator("[data-test=company-table] tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("[data-test=customer-link]").click()
    expect(page.locator("main [data-page=customer][data-entity=company]")).to_be_visible()
    expect(page.locator("[data-test=customer-name]")).to_have_text("邝氏贸易")
    people = page.locator("[data-test=company-contacts]")
    expect(people).to_contain_text(ui_seed["name"])
    expect(page.locator("[data-test=timeline-entry]").first).to_be_visible()
