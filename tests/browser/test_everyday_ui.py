"""Everyday features in Chromium: an example image dropped or pasted on the search form,
bulk selection on a gallery page (shift-click ranges, select all, zip download, delete
behind a confirmation page), the gallery picker's "All galleries".
"""

from __future__ import annotations

import base64
import io
import re
import zipfile

import pytest
from playwright.sync_api import expect

from galleries.models import Image
from indexing.embedding import images_embed
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import GalleryFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.browser

RED, BLUE = (230, 20, 20), (20, 20, 230)

# A file built in the page, handed to the form as a drop or a paste would hand it.
_DROP = """([b64, name, type, how]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new File([bytes], name, { type });
  const transfer = new DataTransfer();
  transfer.items.add(file);
  const form = document.querySelector("[data-testid=search-form]");
  if (how === "paste") {
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true }));
    return;
  }
  for (const kind of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    form.dispatchEvent(new DragEvent(kind, init));
  }
}"""


def _ready(gallery, *colours_and_names):  # type: ignore[no-untyped-def]
    images = [upload(gallery, png_bytes(colour), name=name) for colour, name in colours_and_names]
    images_embed(image_ids=[i.pk for i in images])
    return images


def _result_ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    tiles = page.locator("[data-testid=results] figure.tile")
    return [int(v) for v in tiles.evaluate_all("els => els.map(e => e.dataset.imageId)")]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("how", ["drop", "paste"])
def test_an_example_image_dropped_or_pasted_on_the_search_form_is_searched(
    page, live_server, login, cast, viewport, how
):
    red, blue = _ready(cast.gallery, (RED, "red.png"), (BLUE, "blue.png"))
    page.set_viewport_size(viewport)
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/")
    data = base64.b64encode(png_bytes((0, 0, 128))).decode()
    page.evaluate(_DROP, [data, "navy.png", "image/png", how])

    preview = page.get_by_test_id("example-preview")
    expect(preview.locator("img")).to_be_visible()
    expect(preview).to_contain_text("navy.png")
    assert page.locator("input[name=image]").evaluate("el => el.files.length") == 1

    page.click("[data-testid=search-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/search/sessions/"))
    expect(page.get_by_test_id("results").locator("figure.tile")).to_have_count(2)
    assert _result_ids(page) == [blue.pk, red.pk]


def test_a_dropped_file_that_is_not_an_image_is_refused_in_place(page, live_server, cast):
    page.goto(f"{live_server.url}/search/")
    data = base64.b64encode(b"just words\n").decode()
    page.evaluate(_DROP, [data, "notes.txt", "text/plain", "drop"])
    expect(page.get_by_test_id("example-preview")).to_contain_text("notes.txt is not an image")
    assert page.locator("input[name=image]").evaluate("el => el.files.length") == 0


def test_removing_the_dropped_example_clears_the_file_input(page, live_server, cast):
    page.goto(f"{live_server.url}/search/")
    data = base64.b64encode(png_bytes(RED)).decode()
    page.evaluate(_DROP, [data, "red.png", "image/png", "drop"])
    page.get_by_role("button", name="Remove the example image red.png").click()
    expect(page.get_by_test_id("example-preview").locator("img")).to_have_count(0)
    assert page.locator("input[name=image]").evaluate("el => el.files.length") == 0


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_bulk_select_with_shift_click_then_delete_after_a_confirmation_page(
    page, live_server, login, cast, viewport
):
    images = [upload(cast.gallery, png_bytes((n * 50, 10, 10)), name=f"{n}.png") for n in range(4)]
    page.set_viewport_size(viewport)
    login(cast.editor)
    page.goto(f"{live_server.url}/galleries/private/")
    boxes = page.locator("[data-testid=image-grid] input[data-bulk-item]")
    expect(boxes).to_have_count(4)
    count = page.get_by_test_id("bulk-count")
    expect(page.get_by_test_id("bulk-delete")).to_be_disabled()

    boxes.nth(0).click()
    expect(count).to_have_text("1 image selected")
    boxes.nth(2).click(modifiers=["Shift"])  # the range between
    expect(count).to_have_text("3 images selected")
    expect(page.locator("[data-testid=image-grid] .tile.selected")).to_have_count(3)
    expect(page.get_by_test_id("bulk-all")).to_have_js_property("indeterminate", True)

    page.get_by_test_id("bulk-delete").click()
    confirm = page.get_by_test_id("bulk-confirm")
    expect(confirm.locator("figure.tile")).to_have_count(3)
    page.get_by_test_id("bulk-delete-confirm").click()
    expect(page.locator("body")).to_contain_text("Deleted 3 images.")
    expect(boxes).to_have_count(1)
    # The page lists newest first: the three ticked were the three newest.
    assert list(Image.objects.values_list("pk", flat=True)) == [images[0].pk]


def test_select_all_then_download_a_zip_and_escape_clears(page, live_server, login, cast):
    for n in range(3):
        upload(cast.gallery, png_bytes((n * 70, 0, 0)), name=f"photo-{n}.png")
    login(cast.viewer)
    page.goto(f"{live_server.url}/galleries/private/")
    expect(page.get_by_test_id("bulk-delete")).to_have_count(0)  # viewers may not delete
    page.get_by_test_id("bulk-all").check()
    expect(page.get_by_test_id("bulk-count")).to_have_text("3 images selected")
    with page.expect_download() as caught:
        page.get_by_test_id("bulk-download").click()
    download = caught.value
    assert download.suggested_filename == "private-3-images.zip"
    names = zipfile.ZipFile(io.BytesIO(download.path().read_bytes())).namelist()
    assert sorted(names) == ["photo-0.png", "photo-1.png", "photo-2.png"]
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("bulk-count")).to_have_text("0 images selected")
    expect(page.get_by_test_id("bulk-download")).to_be_disabled()


def test_gallery_picker_all_galleries_toggles_every_box(page, live_server, login, cast):
    second = GalleryFactory(slug="second", name="Second", owner=cast.owner)
    add_member(second, cast.viewer, "viewer")
    login(cast.viewer)
    page.goto(f"{live_server.url}/search/")
    picker = page.get_by_test_id("gallery-picker")
    picker.locator("summary").click()
    boxes = picker.locator("input[name=galleries]")
    expect(boxes).to_have_count(2)
    every = page.get_by_test_id("galleries-all")
    expect(every).to_be_checked()
    every.uncheck()
    for n in range(2):
        expect(boxes.nth(n)).not_to_be_checked()
    boxes.nth(1).check()
    expect(every).to_have_js_property("indeterminate", True)
    expect(picker.locator("summary")).to_contain_text("1 of 2 selected")
    every.check()
    for n in range(2):
        expect(boxes.nth(n)).to_be_checked()


def _focused_image(page) -> int | None:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "() => { const t = document.activeElement.closest('figure.tile');"
        " return t ? Number(t.dataset.imageId) : null; }"
    )


def test_gallery_tiles_are_one_tab_stop_each_and_space_selects(page, live_server, login, cast):
    for n in range(5):
        upload(cast.gallery, png_bytes((n * 50, 10, 10)), name=f"{n}.png")
    login(cast.editor)
    page.goto(f"{live_server.url}/galleries/private/")
    tiles = page.get_by_test_id("image-grid").locator("figure.tile")
    ids = [int(v) for v in tiles.evaluate_all("els => els.map(e => e.dataset.imageId)")]
    count = page.get_by_test_id("bulk-count")

    tiles.first.locator("a.open").focus()
    page.keyboard.press("Tab")
    expect(tiles.nth(1).locator("a.open")).to_be_focused()  # the next tile's link, no box
    page.keyboard.press("Space")
    expect(count).to_have_text("1 image selected")
    expect(tiles.nth(1).locator("input[data-bulk-item]")).to_be_checked()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert _focused_image(page) == ids[3]
    page.keyboard.press("Shift+Space")  # the range from the last one used
    expect(count).to_have_text("3 images selected")
    expect(page.locator("[data-testid=image-grid] .tile.selected")).to_have_count(3)
    page.keyboard.press("Space")
    expect(count).to_have_text("2 images selected")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")  # the link still opens the image
    page.wait_for_url(re.compile(rf"/images/{ids[2]}/$"))


def test_select_boxes_are_touch_sized_on_a_phone(page, live_server, login, cast):
    upload(cast.gallery, png_bytes(RED), name="red.png")
    page.set_viewport_size(PHONE)
    login(cast.editor)
    page.goto(f"{live_server.url}/galleries/private/")
    targets = [
        page.get_by_test_id("image-grid").locator("label.bulk-pick").first,
        page.get_by_test_id("bulk-bar").locator("label").first,
        page.get_by_test_id("bulk-download"),
        page.get_by_test_id("bulk-delete"),
    ]
    for target in targets:
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, target
