"""The "Why?" toggle on a session page: pending, then the overlay and the words (Chromium)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from explain.models import Explanation
from explain.services import explanation_compute
from feedback.models import SearchIteration
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser


def test_why_shows_pending_then_the_overlay_and_the_words(page, live_server, login, cast, settings):
    settings.CBIR_BACKGROUND_TASKS = False  # the test plays the worker, below
    images = [
        upload(cast.gallery, png_bytes(colour), name=name)
        for colour, name in (((230, 20, 20), "red.png"), ((20, 20, 230), "blue.png"))
    ]
    images_embed(image_ids=[i.pk for i in images])
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/")
    page.fill("input[name=q]", "red")
    page.click("[data-testid=search-form] button[type=submit]")
    tile = page.get_by_test_id("results").locator(f"figure.tile[data-image-id='{images[0].pk}']")
    expect(tile).to_have_count(1)
    thumbnail = tile.locator("a > img")
    plain = thumbnail.get_attribute("src")

    tile.get_by_role("button", name="Why?").click()
    why = tile.get_by_test_id("why")
    expect(why).to_have_text("Working out why…")
    expect(tile.get_by_role("button", name="Why?")).to_have_attribute("aria-expanded", "true")

    row = Explanation.objects.get(image=images[0])
    explanation_compute(
        explanation_id=row.pk, iteration_id=SearchIteration.objects.get(number=0).pk
    )
    expect(why).to_contain_text("“red” (text, weight 1.000)")
    expect(why).to_contain_text("occlusion:")
    expect(thumbnail).to_have_attribute(
        "src", re.compile(r"/explain/\d+/overlay\.png\?method=auto$")
    )
    assert (
        page.evaluate(
            "src => fetch(src).then(r => r.headers.get('content-type'))",
            thumbnail.get_attribute("src"),
        )
        == "image/png"
    )
    expect(tile).to_have_class(re.compile("explained"))
    expect(why.get_by_role("link", name="heat map on the full image")).to_have_attribute(
        "href", re.compile(r"overlay\.png\?method=auto&full=1$")
    )

    tile.get_by_role("button", name="Why?").click()  # closed again: the plain thumbnail
    expect(why).to_be_hidden()
    expect(thumbnail).to_have_attribute("src", plain)
