"""The axe-core gate: no violation of impact serious or critical on any page, desktop and phone.

Covers the site's own pages in the states a member meets them: signed out and in,
results and no confident match, the viewer and the shortcuts sheet open, an error
page, the gallery picker and the result filters open, filtered results and none left
by the filters, images ticked in a gallery and the bulk delete confirmation. The admin
and the API docs (Django's and Swagger UI's own pages) are not ours.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from galleries.models import Gallery
from indexing.embedding import images_embed
from tests.browser.conftest import DESKTOP, PHONE, axe_violations
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser

COLOURS = [
    ((230, 20, 20), "red.png"),
    ((150, 0, 0), "dark-red.png"),
    ((20, 20, 230), "blue.png"),
    ((20, 200, 40), "green.png"),
]


def _seed(cast):  # type: ignore[no-untyped-def]
    images = [upload(cast.gallery, png_bytes(c), name=n) for c, n in COLOURS]
    images_embed(image_ids=[i.pk for i in images])
    public = Gallery.objects.create(name="Open pictures", slug="open", visibility="public")
    yellow = upload(public, png_bytes((240, 240, 20)), name="yellow.png")
    images_embed(image_ids=[yellow.pk])
    upload(cast.gallery, png_bytes((90, 90, 90)), name="grey.png")  # left pending
    return images


def _check(page, what: str, failures: list[str]) -> None:  # type: ignore[no-untyped-def]
    for line in axe_violations(page):
        failures.append(f"{what}: {line}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_or_critical_axe_violation_on_any_page(
    page, live_server, login, cast, viewport, settings
):
    settings.CBIR_THRESHOLD_STATIC_TEXT = 0.01  # a static search then keeps nothing
    page.set_viewport_size(viewport)
    images = _seed(cast)
    url = live_server.url
    failures: list[str] = []

    page.goto(f"{url}/accounts/login/")
    _check(page, "login", failures)
    page.goto(f"{url}/search/?q=red&mode=topk")  # signed out: results inline
    expect(page.get_by_test_id("results").locator("figure.tile")).to_have_count(1)
    _check(page, "search signed out", failures)
    response = page.goto(f"{url}/galleries/nope/")
    assert response is not None and response.status == 404
    _check(page, "404", failures)

    login(cast.editor)
    _check(page, "gallery list", failures)
    page.goto(f"{url}/galleries/private/")
    _check(page, "gallery page (editor, drop zone)", failures)
    grid = page.get_by_test_id("image-grid")
    grid.locator("input[data-bulk-item]").nth(0).check()
    grid.locator("input[data-bulk-item]").nth(1).check()
    expect(page.get_by_test_id("bulk-count")).to_have_text("2 images selected")
    _check(page, "gallery page, two images selected", failures)
    page.get_by_test_id("bulk-delete").click()
    expect(page.get_by_test_id("bulk-confirm")).to_be_visible()
    _check(page, "bulk delete confirmation", failures)
    page.goto(f"{url}/images/{images[0].pk}/")
    _check(page, "image page", failures)
    page.goto(f"{url}/search/")
    _check(page, "search form", failures)
    page.get_by_test_id("gallery-picker").locator("summary").click()
    page.get_by_test_id("result-filters").locator("summary").click()
    expect(page.get_by_test_id("galleries-all")).to_be_visible()
    expect(page.locator("[data-testid=result-filters] select[name=sort]")).to_be_visible()
    _check(page, "search form, gallery picker and filters open", failures)
    page.fill("input[name=q]", "red")
    page.click("[data-testid=search-form] button[type=submit]")
    expect(page.get_by_test_id("results").locator("figure.tile")).to_have_count(5)
    page.get_by_test_id("results").locator("figure.tile").first.locator("button.mark").first.click()
    _check(page, "session page", failures)
    page.get_by_test_id("results").locator("figure.tile a.open").first.click()
    expect(page.get_by_test_id("viewer")).to_be_visible()
    _check(page, "viewer", failures)
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("viewer")).to_be_hidden()
    filters = page.get_by_test_id("filter-form")
    filters.locator("summary").click()
    filters.locator("select[name=sort]").select_option("name")
    filters.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("filter-count")).to_be_visible()
    _check(page, "session page, filtered and sorted", failures)
    page.goto(f"{page.url}&uploader=nobody-of-that-name")
    expect(page.get_by_test_id("no-filter-match")).to_be_visible()
    _check(page, "session page, no result matches the filters", failures)
    page.goto(f"{url}/search/?q=red&mode=static&k=3")  # nothing passes the static cutoff
    expect(page.get_by_test_id("no-confident-match")).to_be_visible()
    _check(page, "no confident match", failures)
    page.goto(f"{url}/search/sessions/")
    _check(page, "history", failures)
    if viewport is DESKTOP:
        page.keyboard.press("?")
        expect(page.get_by_test_id("shortcuts")).to_be_visible()
        _check(page, "shortcuts sheet", failures)
    else:
        page.get_by_role("button", name="Menu").click()
        _check(page, "header menu open", failures)

    assert failures == [], "axe-core found:\n" + "\n".join(failures)


def test_the_gate_reports_what_breaks_the_rules(page):
    """The gate can fail: an unlabelled file input and grey-on-grey text are reported."""
    page.set_content(
        "<!doctype html><html lang='en'><head><title>t</title></head><body><main>"
        "<input type='file'><p style='color:#999;background:#aaa'>faint</p></main></body></html>"
    )
    found = "\n".join(axe_violations(page))
    assert "critical label" in found and "serious color-contrast" in found
