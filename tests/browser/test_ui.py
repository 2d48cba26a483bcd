"""The web UI end to end: sign-in, gallery pages, drop-zone upload, live status, search.

Embedding runs in-process with images_embed (the fake colour encoder) instead
of a Celery worker, so "red" finds the red image and the test knows it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from galleries.models import Image
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser

RED, DARK_RED, BLUE = (230, 20, 20), (150, 0, 0), (20, 20, 230)
MATCH = re.compile(r"^(\d{1,3})/100$")


def _png_file(tmp_path, name: str, colour) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(png_bytes(colour))
    return str(path)


def _ready_images(gallery, *colours_and_names):  # type: ignore[no-untyped-def]
    images = [upload(gallery, png_bytes(colour), name=name) for colour, name in colours_and_names]
    report = images_embed(image_ids=[i.pk for i in images])
    assert sorted(report.embedded) == sorted(i.pk for i in images)
    return images


def _result_ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    tiles = page.locator("[data-testid=results] figure.tile")
    return [int(v) for v in tiles.evaluate_all("els => els.map(e => e.dataset.imageId)")]


def test_member_sees_gallery_and_outsider_gets_404(page, live_server, login, cast):
    login(cast.owner)
    table = page.get_by_test_id("gallery-table")
    expect(table.locator("a[href='/galleries/private/']")).to_have_text(cast.gallery.name)
    expect(table).to_contain_text("owner")

    page.context.clear_cookies()
    login(cast.outsider)
    expect(page.locator("main")).to_contain_text("No galleries you can see yet.")
    expect(page.locator("a[href='/galleries/private/']")).to_have_count(0)

    response = page.goto(f"{live_server.url}/galleries/private/")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text(cast.gallery.name)


def test_editor_uploads_through_drop_zone_and_sees_images_become_ready(
    page, live_server, login, cast, tmp_path
):
    red = _png_file(tmp_path, "red.png", RED)
    blue = _png_file(tmp_path, "blue.png", BLUE)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image at all\n")
    login(cast.editor)
    page.goto(f"{live_server.url}/galleries/private/")
    log = page.get_by_test_id("upload-log").locator("li")

    page.set_input_files("#file-input", [red, blue])
    expect(log).to_have_count(2)
    expect(page.locator("#upload-log li.created")).to_have_text(
        ["blue.png: uploaded, indexing", "red.png: uploaded, indexing"]
    )

    copy = tmp_path / "copy-of-red.png"
    copy.write_bytes((tmp_path / "red.png").read_bytes())
    page.set_input_files("#file-input", str(copy))
    expect(log.first).to_have_class("duplicate")
    expect(log.first).to_contain_text("copy-of-red.png: Already in this gallery as image")

    page.set_input_files("#file-input", str(notes))
    expect(log.first).to_have_class("rejected")
    expect(log.first).to_contain_text("notes.txt: Not an image in an accepted format")
    # The drop zone's own status refresh after the uploads: two images, both waiting.
    expect(page.locator("#status [data-count=total]")).to_have_text("2")

    page.reload()
    grid = page.get_by_test_id("image-grid")
    expect(grid.locator("figure.tile .name")).to_have_text(["blue.png", "red.png"])
    expect(grid.locator("figure.tile .badge")).to_have_text(["pending", "pending"])
    expect(page.locator("#status [data-count=pending]")).to_have_text("2")
    expect(page.locator("#status [data-count=ready]")).to_have_text("0")

    ids = list(cast.gallery.images.values_list("pk", flat=True))
    assert len(ids) == 2
    images_embed(image_ids=ids)
    # No reload: the page polls the status API while anything is pending.
    expect(page.locator("#status [data-count=ready]")).to_have_text("2", timeout=8000)
    expect(page.locator("#status [data-count=pending]")).to_have_text("0")
    assert page.locator("#status progress").evaluate("el => el.value") == 1

    page.reload()
    expect(grid.locator("figure.tile .badge")).to_have_text(["ready", "ready"])


def test_text_search_ranks_red_image_first_and_similar_link_searches_by_image(
    page, live_server, login, cast
):
    red, dark_red, blue = _ready_images(
        cast.gallery, (RED, "red.png"), (DARK_RED, "dark-red.png"), (BLUE, "blue.png")
    )
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/")
    page.fill("input[name=q]", "red")
    page.click("[data-testid=search-form] button[type=submit]")

    results = page.get_by_test_id("results")
    expect(results.locator("figure.tile")).to_have_count(3)
    assert _result_ids(page) == [red.pk, dark_red.pk, blue.pk]
    first = results.locator("figure.tile").first
    expect(first.locator(".name")).to_have_text("red.png")
    # People see one scale, a 0-100 match; the raw scores stay on the tiles' data (and the API).
    raw = results.locator(".score").evaluate_all("els => els.map(e => Number(e.dataset.raw))")
    assert len(raw) == 3 and raw == sorted(raw, reverse=True) and raw[0] > 0.9 > raw[2]
    matches = [MATCH.match(t).group(1) for t in results.locator(".score").all_inner_texts()]
    assert [int(m) for m in matches] == sorted((int(m) for m in matches), reverse=True)
    assert int(matches[0]) == 100 and int(matches[-1]) < 100
    # Signed in, a search becomes a feedback session with its own page.
    expect(page.get_by_test_id("result-summary")).to_contain_text("3 results")

    first.locator("a.open").click()  # the viewer
    page.get_by_test_id("viewer-similar").click()
    page.wait_for_url(re.compile(r"/search/sessions/[0-9a-f-]{36}/$"))
    expect(page.locator("h1")).to_have_text("Search by example")
    # The example itself is left out; the nearest colour comes first.
    assert _result_ids(page) == [dark_red.pk, blue.pk]


def test_more_like_this_adds_an_example_thumbnail_and_remove_takes_it_away(page, live_server, cast):
    from galleries.models import Gallery

    cast.gallery.visibility = Gallery.Visibility.PUBLIC
    cast.gallery.save()
    red, _, blue = _ready_images(
        cast.gallery, (RED, "red.png"), (DARK_RED, "dark-red.png"), (BLUE, "blue.png")
    )
    page.goto(f"{live_server.url}/search/?q=blue&mode=topk")  # anonymous: results stay inline
    expect(page.get_by_test_id("examples")).to_have_count(0)
    tile = page.get_by_test_id("results").locator(f"figure.tile[data-image-id='{red.pk}']")
    tile.get_by_role("link", name="more like this").click()

    examples = page.get_by_test_id("examples").locator(".example")
    expect(examples).to_have_count(1)
    expect(examples.first).to_have_attribute("data-kind", "like")
    expect(examples.first.locator("img")).to_have_attribute("alt", "red.png")
    assert red.pk not in _result_ids(page)  # an example is not its own result
    assert page.input_value("input[name=q]") == "blue"

    examples.first.get_by_role("link", name=f"Remove example {red.pk}").click()
    expect(page.get_by_test_id("examples")).to_have_count(0)
    assert _result_ids(page)[0] == blue.pk


def test_viewer_sees_no_drop_zone(page, live_server, login, cast):
    _ready_images(cast.gallery, (RED, "red.png"))
    login(cast.viewer)
    page.goto(f"{live_server.url}/galleries/private/")

    expect(page.locator("h1")).to_have_text(cast.gallery.name)
    expect(page.locator("main")).to_contain_text("you are viewer")
    expect(page.get_by_test_id("image-grid").locator("figure.tile")).to_have_count(1)
    expect(page.get_by_test_id("dropzone")).to_have_count(0)
    expect(page.locator("#file-input")).to_have_count(0)
    expect(page.locator("#upload-form")).to_have_count(0)


def test_search_by_example_image_finds_matching_colour_first(
    page, live_server, login, cast, tmp_path
):
    red, blue = _ready_images(cast.gallery, (RED, "red.png"), (BLUE, "blue.png"))
    example = _png_file(tmp_path, "navy-query.png", (0, 0, 128))
    login(cast.editor)
    page.goto(f"{live_server.url}/search/")
    page.set_input_files("input[name=image]", example)
    page.click("[data-testid=search-form] button[type=submit]")

    expect(page.get_by_test_id("results").locator("figure.tile")).to_have_count(2)
    assert _result_ids(page) == [blue.pk, red.pk]
    assert Image.objects.filter(gallery=cast.gallery).count() == 2  # a query image is not stored


def test_marking_results_and_refining_creates_a_new_iteration(page, live_server, login, cast):
    from feedback.models import Judgement, SearchIteration

    red, dark_red, blue = _ready_images(
        cast.gallery, (RED, "red.png"), (DARK_RED, "dark-red.png"), (BLUE, "blue.png")
    )
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/")
    page.fill("input[name=q]", "red")
    page.click("[data-testid=search-form] button[type=submit]")
    results = page.get_by_test_id("results")
    expect(results.locator("figure.tile")).to_have_count(3)

    blue_tile = results.locator(f"figure.tile[data-image-id='{blue.pk}']")
    blue_tile.locator("button.mark.relevant").click()
    expect(blue_tile).to_have_class(re.compile("is-relevant"))
    red_tile = results.locator(f"figure.tile[data-image-id='{red.pk}']")
    red_tile.locator("button.mark.not_relevant").click()
    expect(red_tile).to_have_class(re.compile("is-not_relevant"))
    red_tile.locator("button.mark.not_relevant").click()  # clicked again: withdrawn
    expect(red_tile).not_to_have_class(re.compile("is-not_relevant"))
    labels = list(Judgement.objects.order_by("id").values_list("image_id", "label"))
    assert labels == [(blue.pk, "relevant"), (red.pk, "not_relevant"), (red.pk, "withdrawn")]

    page.get_by_test_id("refine-form").get_by_text("Options").click()
    page.get_by_text("Details: how refining weighs").click()
    page.fill("input[name=beta]", "2.0")
    page.get_by_test_id("refine-form").locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"\?iteration=1$"))
    expect(page.get_by_test_id("iterations").locator("a")).to_have_text(
        ["Original", "Refinement 1"]
    )
    assert _result_ids(page)[0] == blue.pk  # moved to the top by the feedback
    expect(results.locator(f"figure.tile[data-image-id='{blue.pk}']")).to_have_class(
        re.compile("is-relevant")
    )
    assert SearchIteration.objects.get(number=1).params["beta"] == 2.0

    page.get_by_test_id("iterations").get_by_role("link", name="Original").click()
    assert _result_ids(page) == [red.pk, dark_red.pk, blue.pk]


def test_api_docs_render_under_the_content_security_policy(page, live_server):
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CBIR API", timeout=15000)
    expect(page.locator(".opblock-tag").first).to_be_visible()
