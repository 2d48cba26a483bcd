"""The result viewer at desktop and phone sizes: open, previous / next, marks, download, close."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from feedback.expansion_service import caption_add
from feedback.models import Judgement
from galleries.models import Gallery
from indexing.embedding import images_embed
from indexing.runtime import get_encoder
from tests.browser.conftest import sign_in
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser

REDS = [((255 - 12 * n, 10 + 3 * n, 10), f"red-{n:02d}.png") for n in range(12)]


def _seed(cast):  # type: ignore[no-untyped-def]
    images = [upload(cast.gallery, png_bytes(c, size=(300, 200)), name=n) for c, n in REDS]
    images_embed(image_ids=[i.pk for i in images])
    return images


def _caption_and_copy(cast, image) -> None:  # type: ignore[no-untyped-def]
    """A manager's caption, and the same file in a second gallery the viewer may see."""
    caption_add(image=image, text="the reddest of them", user=cast.owner, encoder=get_encoder())
    other = Gallery.objects.create(name="Shared reds", slug="shared", visibility="public")
    upload(other, image.file.open("rb").read(), name="copy.png")


def _search_red(page, live_server):  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/search/")
    page.fill("input[name=q]", "red")
    page.select_option("select[name=mode]", "topk")
    page.click("[data-testid=search-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/search/sessions/"))
    tiles = page.get_by_test_id("results").locator("figure.tile")
    expect(tiles).to_have_count(12)
    return tiles


def _ids(tiles) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(v) for v in tiles.evaluate_all("els => els.map(e => e.dataset.imageId)")]


def _swipe(page, dx: int) -> None:  # type: ignore[no-untyped-def]
    page.get_by_test_id("viewer-stage").evaluate(
        """(stage, dx) => {
          const at = (x) => new Touch({ identifier: 1, target: stage, clientX: x, clientY: 300 });
          const touch = (type, now, changed) => stage.dispatchEvent(
            new TouchEvent(type, { touches: now, changedTouches: changed, bubbles: true }));
          touch("touchstart", [at(200)], [at(200)]);
          touch("touchend", [], [at(200 + dx)]);
        }""",
        dx,
    )


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_viewer_steps_through_results_marks_downloads_and_closes_where_it_was(
    page, phone, live_server, cast, size
):
    view = page if size == "desktop" else phone
    images = _seed(cast)
    sign_in(view, live_server, cast.viewer)
    tiles = _search_red(view, live_server)
    ids = _ids(tiles)
    first = next(i for i in images if i.pk == ids[0])
    _caption_and_copy(cast, first)
    view.reload()
    third = tiles.nth(2)
    view.evaluate("window.scrollTo(0, 180)")
    third.locator("a.open").click()  # Playwright may scroll a little more to click it
    viewer = view.get_by_test_id("viewer")
    expect(viewer).to_be_visible()
    scroll_before = view.evaluate("window.scrollY")  # where the viewer was opened
    assert scroll_before >= 180
    expect(view.get_by_test_id("viewer-position")).to_contain_text("3 of 12")
    image = view.get_by_test_id("viewer-image")
    expect(image).to_have_attribute("src", f"/api/v1/images/{ids[2]}/file/")
    view.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-image]').naturalWidth === 300"
    )

    if size == "desktop":
        view.keyboard.press("ArrowRight")
        expect(view.get_by_test_id("viewer-position")).to_contain_text("4 of 12")
        view.get_by_test_id("viewer-prev").click()
        view.keyboard.press("ArrowLeft")
    else:
        _swipe(view, -120)  # to the left: the next one
        expect(view.get_by_test_id("viewer-position")).to_contain_text("4 of 12")
        view.get_by_test_id("viewer-prev").click()
        _swipe(view, 120)
    expect(view.get_by_test_id("viewer-position")).to_contain_text("2 of 12")
    view.get_by_test_id("viewer-prev").click()
    expect(view.get_by_test_id("viewer-position")).to_contain_text("1 of 12")
    expect(view.get_by_test_id("viewer-prev")).to_be_disabled()
    expect(view.get_by_test_id("viewer-title")).to_have_text(first.original_filename)
    expect(view.get_by_test_id("viewer-captions")).to_contain_text("the reddest of them")
    galleries = view.get_by_test_id("viewer-galleries").locator("li")
    expect(galleries).to_have_text(sorted([cast.gallery.name, "Shared reds"]))

    # Fit, then the image's own pixels.
    fitted = image.bounding_box()
    assert fitted is not None and fitted["width"] > 300  # fit: as large as the stage allows
    view.get_by_test_id("viewer-size").click()
    natural = image.bounding_box()
    assert natural is not None and round(natural["width"]) == 300

    # ✓ in the viewer is the same mark as on the tile, and the focus stays on the button.
    relevant = view.get_by_test_id("viewer-relevant")
    relevant.click()
    expect(relevant).to_have_attribute("aria-pressed", "true")
    expect(relevant).to_be_focused()
    expect(tiles.first).to_have_class(re.compile("is-relevant"))
    assert list(Judgement.objects.values_list("image_id", "label")) == [(ids[0], "relevant")]

    download = view.get_by_test_id("viewer-download")
    href = download.get_attribute("href")
    assert href == f"/api/v1/images/{ids[0]}/file/?download=1"
    response = view.request.get(f"{live_server.url}{href}")
    assert response.status == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert first.original_filename in response.headers["content-disposition"]

    view.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert view.evaluate("window.scrollY") == scroll_before
    # Back on the tile the viewer last showed (focus moves once the viewer has closed: wait).
    view.wait_for_function(
        "id => document.activeElement?.closest('figure.tile')?.dataset.imageId === String(id)",
        arg=ids[0],
        timeout=5000,
    )


def test_image_page_leads_back_to_the_results_and_never_elsewhere(page, live_server, login, cast):
    images = _seed(cast)
    login(cast.viewer)
    tiles = _search_red(page, live_server)
    session_url = page.url
    detail = tiles.first.locator("a.open").get_attribute("href")
    page.goto(f"{live_server.url}{detail}")
    img = page.locator("img.full")
    page.wait_for_function("() => document.querySelector('img.full').complete")
    box = img.bounding_box()
    assert box is not None and round(box["width"]) == 300  # never stretched past its own size
    page.get_by_test_id("back-to-results").click()
    assert page.url == session_url

    page.goto(f"{live_server.url}/images/{images[1].pk}/?back=//evil.example/")
    expect(page.get_by_test_id("back-to-results")).to_have_count(0)
