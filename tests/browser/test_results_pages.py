"""Result pages as a member meets them: empty results, pages per iteration, the uploaded example
kept by "Edit search", live tiles after an upload, and the phone layout."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from feedback.models import SearchSession
from indexing.embedding import images_embed
from tests.browser.conftest import sign_in
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser


def _ready(gallery, n: int):  # type: ignore[no-untyped-def]
    images = [
        upload(gallery, png_bytes((250 - 7 * i, 20 + i, 20 + 7 * i)), name=f"p{i}.png")
        for i in range(n)
    ]
    images_embed(image_ids=[i.pk for i in images])
    return images


def _ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    tiles = page.get_by_test_id("results").locator("figure.tile")
    return [int(v) for v in tiles.evaluate_all("els => els.map(e => e.dataset.imageId)")]


def test_no_confident_match_offers_the_closest_and_best_matches(
    page, live_server, login, cast, settings
):
    settings.CBIR_THRESHOLD_STATIC_TEXT = 0.01  # nothing passes
    _ready(cast.gallery, 4)
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/?q=red&mode=static&k=3")
    note = page.get_by_test_id("no-confident-match")
    expect(note).to_contain_text("No confident match")
    expect(page.get_by_test_id("closest-divider")).to_be_visible()
    below = page.locator("[data-testid=results] figure.tile[data-below-cutoff=true]")
    expect(below).to_have_count(3)
    expect(page.get_by_test_id("refine-form")).to_be_visible()  # the closest can be marked
    page.get_by_test_id("best-matches").click()
    expect(page.get_by_test_id("results").locator("figure.tile")).to_have_count(3)
    expect(page.get_by_test_id("no-confident-match")).to_have_count(0)
    assert SearchSession.objects.order_by("-created_at").first().mode == "topk"


def test_nothing_found_says_why_and_shows_no_refine_form(page, live_server, login, cast):
    upload(cast.gallery, png_bytes((200, 0, 0)), name="waiting.png")  # not indexed yet
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/?q=red")
    expect(page.get_by_test_id("nothing-found")).to_contain_text("indexed")
    expect(page.get_by_test_id("refine-form")).to_have_count(0)
    expect(page.get_by_test_id("no-refine")).to_contain_text("Nothing to refine")


def test_pages_stay_on_their_iteration(page, live_server, login, cast, settings):
    settings.CBIR_THRESHOLD_STATIC_TEXT = 2.0  # everything passes: 5 results, 2 a page
    _ready(cast.gallery, 5)
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/?q=red&mode=static&k=2")
    page.wait_for_url(re.compile(r"/search/sessions/"))
    original = _ids(page)
    assert len(original) == 2
    tiles = page.get_by_test_id("results").locator("figure.tile")
    tiles.nth(1).locator("button.mark.relevant").click()
    expect(tiles.nth(1)).to_have_class(re.compile("is-relevant"))
    page.get_by_test_id("refine-form").locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"\?iteration=1$"))

    page.get_by_test_id("iterations").get_by_role("link", name="Original").click()
    pager = page.get_by_test_id("pager")
    expect(pager).to_contain_text("Results page 1 of 3")
    expect(pager.get_by_test_id("previous-results")).to_have_count(0)
    pager.get_by_test_id("more-results").click()
    assert re.search(r"[?&]iteration=0&page=2$", page.url)
    expect(page.get_by_test_id("iterations").locator("a.active")).to_have_text("Original")
    expect(page.get_by_test_id("pager")).to_contain_text("Results page 2 of 3")
    second_page = _ids(page)
    session = SearchSession.objects.get()
    stored = [row[0] for row in session.iterations.get(number=0).results]
    assert second_page == stored[2:4] and original == stored[:2]
    page.get_by_test_id("previous-results").click()
    assert _ids(page) == original


def test_edit_search_keeps_the_uploaded_example(page, live_server, login, cast, tmp_path):
    _ready(cast.gallery, 3)
    example = tmp_path / "navy.png"
    example.write_bytes(png_bytes((0, 0, 140)))
    login(cast.editor)
    page.goto(f"{live_server.url}/search/")
    page.fill("input[name=q]", "blue")
    page.set_input_files("input[name=image]", str(example))
    page.click("[data-testid=search-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/search/sessions/"))
    first = _ids(page)
    thumb = page.get_by_test_id("uploaded-example").locator("img")
    expect(thumb).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=uploaded-example] img').naturalWidth > 0"
    )

    page.get_by_test_id("edit-search").click()
    assert page.input_value("input[name=q]") == "blue"
    expect(page.get_by_test_id("uploaded-example").locator("img")).to_be_visible()
    assert page.input_value("input[name=example]")
    page.click("[data-testid=search-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/search/sessions/"))
    assert _ids(page) == first  # the same words and the same picture
    sessions = SearchSession.objects.order_by("created_at")
    assert [s.uploaded_example for s in sessions] == [True, True]
    assert sessions[0].params["example"] == sessions[1].params["example"]

    # Another browser (another user) cannot use the token, nor see the picture.
    token = sessions[1].params["example"]
    other = page.context.browser.new_context()
    response = other.request.get(f"{live_server.url}/search/example/{token}/")
    assert response.status == 404
    other.close()


def test_tiles_and_log_follow_the_status_bar_after_an_upload(
    page, live_server, login, cast, tmp_path
):
    red = tmp_path / "red.png"
    red.write_bytes(png_bytes((230, 20, 20)))
    login(cast.editor)
    page.goto(f"{live_server.url}/galleries/private/")
    page.set_input_files("#file-input", str(red))
    tile = page.get_by_test_id("image-grid").locator("figure.tile").first
    expect(tile.locator(".badge")).to_have_text("pending")
    # The new tile can be ticked for bulk actions, and its link stays its one tab stop.
    image = cast.gallery.images.get()
    box = tile.locator("input[data-bulk-item]")
    expect(box).to_have_attribute("value", str(image.pk))
    expect(box).to_have_attribute("tabindex", "-1")
    expect(box).to_have_accessible_name("Select red.png")
    line = page.locator("#upload-log li").first
    expect(line).to_have_text("red.png: uploaded, indexing")

    images_embed(image_ids=list(cast.gallery.images.values_list("pk", flat=True)))
    expect(page.locator("#status [data-count=ready]")).to_have_text("1", timeout=8000)
    expect(tile.locator(".badge")).to_have_text("ready")  # no reload
    expect(line).to_have_text("red.png: ready, searchable")
    expect(line).to_have_class("ready")


def _overflow(view) -> int:  # type: ignore[no-untyped-def]
    """How far the page is wider than the phone (nothing clips it: no overflow-x: hidden)."""
    return view.evaluate("document.documentElement.scrollWidth") - 390


def test_phone_layout_fits_390_px_with_touch_sized_controls(phone, live_server, cast):
    _ready(cast.gallery, 30)
    sign_in(phone, live_server, cast.viewer)
    assert _overflow(phone) <= 0  # the gallery table
    menu = phone.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(phone.get_by_role("button", name="Sign out")).to_be_hidden()
    menu.click()
    expect(phone.get_by_role("button", name="Sign out")).to_be_visible()
    assert _overflow(phone) <= 0

    phone.goto(f"{live_server.url}/search/?q=red&mode=topk&k=30")
    phone.wait_for_url(re.compile(r"/search/sessions/"))
    assert _overflow(phone) <= 0
    columns = phone.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=results]'))"
        ".gridTemplateColumns.split(' ').length"
    )
    assert columns == 2
    tile = phone.get_by_test_id("results").locator("figure.tile").first
    controls = tile.locator("button, .refine-links a")
    for i in range(controls.count()):
        box = controls.nth(i).bounding_box()
        assert box is not None and box["height"] >= 44, controls.nth(i).inner_text()
    image_page = f"/images/{tile.get_attribute('data-image-id')}/"
    for path in ("/search/", "/galleries/private/", image_page):
        phone.goto(f"{live_server.url}{path}")
        assert _overflow(phone) <= 0, path
    phone.go_back()
    phone.go_back()
    phone.go_back()
    # Far down the results, Refine is still on screen.
    phone.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    refine = phone.get_by_test_id("refine-form").get_by_role("button", name="Refine")
    expect(refine).to_be_in_viewport()
