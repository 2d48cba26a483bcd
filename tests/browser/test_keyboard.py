"""Keyboard use of the results: skip link, one tab stop per tile, arrows and j/k, x/c, / and ?."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from feedback.models import Judgement
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser


def _session_with(page, live_server, login, cast, n: int = 8):  # type: ignore[no-untyped-def]
    images = [
        upload(cast.gallery, png_bytes((250 - 20 * i, 10, 10 + 20 * i)), name=f"c{i}.png")
        for i in range(n)
    ]
    images_embed(image_ids=[i.pk for i in images])
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/?q=red&mode=topk")
    page.wait_for_url(re.compile(r"/search/sessions/"))
    tiles = page.get_by_test_id("results").locator("figure.tile")
    expect(tiles).to_have_count(n)
    return tiles


def _focused_tile(page) -> int | None:  # type: ignore[no-untyped-def]
    value = page.evaluate(
        "() => { const t = document.activeElement.closest('figure.tile');"
        " return t ? Number(t.dataset.imageId) : null; }"
    )
    return value


def _ids(tiles) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(v) for v in tiles.evaluate_all("els => els.map(e => e.dataset.imageId)")]


def test_skip_link_is_the_first_tab_stop_and_lands_on_the_content(page, live_server, login, cast):
    _session_with(page, live_server, login, cast, n=2)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"


def test_one_tab_stop_per_tile_and_arrows_move_in_the_grid(page, live_server, login, cast):
    tiles = _session_with(page, live_server, login, cast)
    ids = _ids(tiles)
    tiles.first.locator("a.open").focus()
    page.keyboard.press("Tab")
    assert _focused_tile(page) == ids[1]  # not the first tile's ✓, ✗, Why? or links
    page.keyboard.press("ArrowRight")
    assert _focused_tile(page) == ids[2]
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert _focused_tile(page) == ids[0]
    columns = page.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=results]'))"
        ".gridTemplateColumns.split(' ').length"
    )
    page.keyboard.press("ArrowDown")
    assert _focused_tile(page) == ids[columns]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert _focused_tile(page) == ids[1]
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("viewer")).to_be_visible()
    expect(page.get_by_test_id("viewer-position")).to_contain_text("2 of 8")
    page.keyboard.press("Escape")
    assert _focused_tile(page) == ids[1]


def test_x_and_c_mark_the_focused_tile_and_the_focus_stays(page, live_server, login, cast):
    tiles = _session_with(page, live_server, login, cast, n=3)
    ids = _ids(tiles)
    page.keyboard.press("j")  # the first result
    page.keyboard.press("x")
    expect(tiles.nth(0)).to_have_class(re.compile("is-relevant"))
    page.keyboard.press("j")
    page.keyboard.press("c")
    expect(tiles.nth(1)).to_have_class(re.compile("is-not_relevant"))
    assert _focused_tile(page) == ids[1]
    page.keyboard.press("c")  # again: withdrawn
    expect(tiles.nth(1)).not_to_have_class(re.compile("is-not_relevant"))
    labels = list(Judgement.objects.order_by("id").values_list("image_id", "label"))
    assert labels == [(ids[0], "relevant"), (ids[1], "not_relevant"), (ids[1], "withdrawn")]
    expect(page.locator("#marked-count")).to_have_text("1 marked on this page")
    page.keyboard.press("w")  # "Why?" of the focused result, which has no tab stop of its own
    expect(tiles.nth(1).get_by_test_id("why")).to_be_visible()
    page.keyboard.press("w")
    expect(tiles.nth(1).get_by_test_id("why")).to_be_hidden()

    # A click on ✓ keeps the focus on that button (it used to drop to the page).
    button = tiles.nth(2).get_by_role("button", name=re.compile(r"^Mark .+ relevant$")).first
    expect(button).to_have_accessible_name(re.compile(r"^Mark c\d\.png relevant$"))
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_be_focused()


def test_slash_focuses_the_search_box_and_question_mark_lists_the_shortcuts(
    page, live_server, login, cast
):
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/")
    page.locator("h1").click()  # away from the autofocused box
    page.keyboard.press("/")
    expect(page.locator("input[name=q]")).to_be_focused()
    page.locator("h1").click()
    page.keyboard.press("?")
    sheet = page.get_by_test_id("shortcuts")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Mark the result relevant")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
