"""The search page's "Ideas" panel in Chromium: chips as text; remove, accept, search again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import AssistRequest
from assistant.services import assist_compute
from feedback.models import SearchSession
from indexing.embedding import images_embed

# The assistant's fixtures (a real chat-completions server, the assistant switched on). The
# browser fixtures come from this folder's conftest: importing them elsewhere would start a
# second Playwright next to the session's one.
from tests.assistant.conftest import assistant_on, llm  # noqa: F401
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.pwned=1">'


def test_chips_are_text_and_the_accepted_ones_reach_the_search(
    request,
    live_server,
    cast,
    assistant_on,  # noqa: F811
):
    tab, sign_in = request.getfixturevalue("page"), request.getfixturevalue("login")
    images = [upload(cast.gallery, png_bytes(c), name=n) for c, n in (((230, 20, 20), "r.png"),)]
    images_embed(image_ids=[i.pk for i in images])
    assistant_on.reply = f"a red sofa {HOSTILE}\na crimson chair\nNOT: dog"
    sign_in(cast.viewer)
    tab.goto(f"{live_server.url}/search/")
    tab.fill("input[name=q]", "red")
    with tab.expect_response(lambda r: r.url.endswith("/api/v1/assist/")) as started:
        tab.get_by_test_id("assistant-ask").click()
    assert started.value.status == 202
    expect(tab.get_by_test_id("assistant-status")).to_have_text("Thinking…")

    assist_compute(request_id=str(AssistRequest.objects.get().pk))  # the worker's part
    chips = tab.get_by_test_id("assistant-chip")
    expect(chips).to_have_count(3)
    assert tab.locator("[data-testid=assistant-chips] img").count() == 0
    assert tab.evaluate("window.pwned") is None
    expect(chips.nth(0)).to_contain_text("a red sofa")

    chips.nth(1).get_by_role("button", name="Remove").click()  # "a crimson chair" goes
    expect(chips).to_have_count(2)
    with tab.expect_request(lambda r: r.method == "POST" and "/search/" in r.url) as sent:
        tab.get_by_test_id("assistant-apply").click()
    body = sent.value.post_data or ""
    assert "a red sofa" in body and "crimson" not in body
    tab.wait_for_load_state()
    session = SearchSession.objects.get()
    assert session.query_text == "red" and session.negative_text == "dog"
