"""POST /api/v1/assist/ → 202 pending; the task's function; GET → ready or failed; 404; 429; off."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from assistant.models import AssistRequest
from assistant.services import assist_compute

pytestmark = pytest.mark.django_db

START = "/api/v1/assist/"


def start(client, **body):  # type: ignore[no-untyped-def]
    return client.post(START, body, format="json")


def test_pending_then_ready_with_bounded_plain_suggestions(cast, client_for, assistant_on):
    assistant_on.reply = "1. <b>a tabby cat</b> on a sofa\n2. a kitten asleep\nNOT: dog"
    client = client_for(cast.viewer)
    response = start(client, text="cat on a couch", k=2)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["rephrasings"] == []
    assert assistant_on.requests == []  # the web request never ran the model

    assist_compute(request_id=body["id"])  # what the worker's task calls

    ready = client.get(f"{START}{body['id']}/")
    assert ready.status_code == 200
    data = ready.json()
    assert data["status"] == "ready"
    assert data["rephrasings"] == ["a tabby cat on a sofa", "a kitten asleep"]
    assert data["negative_suggestions"] == ["dog"]
    assert data["tokens"] == 49 and data["provider"] == "openai" and not data["cached"]


def test_the_same_prompt_is_answered_from_the_cache(cast, client_for, assistant_on):
    client = client_for(cast.viewer)
    first = start(client, text="red bus").json()
    assist_compute(request_id=first["id"])
    second = start(client, text="red bus").json()
    assist_compute(request_id=second["id"])
    assert len(assistant_on.requests) == 1
    assert client.get(f"{START}{second['id']}/").json()["cached"] is True


@pytest.mark.parametrize("mode", ["error", "malformed"])
def test_a_failing_server_leaves_a_short_message(cast, client_for, assistant_on, mode):
    assistant_on.mode = mode
    client = client_for(cast.viewer)
    body = start(client, text="boats").json()
    row = assist_compute(request_id=body["id"])
    assert row is not None and row.status == AssistRequest.Status.FAILED
    data = client.get(f"{START}{body['id']}/").json()
    assert data["status"] == "failed" and data["message"] and data["rephrasings"] == []


def test_garbage_output_fails_softly(cast, client_for, assistant_on):
    assistant_on.reply = "Here you go:\n\n???\n<br><br>\n12345\n```"
    body = start(client_for(cast.viewer), text="boats").json()
    row = assist_compute(request_id=body["id"])
    assert row.status == "failed" and "unchanged" in row.message


def test_running_the_task_twice_keeps_the_first_answer(cast, client_for, assistant_on):
    body = start(client_for(cast.viewer), text="trees").json()
    assist_compute(request_id=body["id"])
    assistant_on.reply = "something else entirely"
    cache.clear()
    row = assist_compute(request_id=body["id"])
    assert row.rephrasings == ["a photo", "another photo"] and len(assistant_on.requests) == 1


def test_someone_elses_request_is_not_found(cast, client_for, assistant_on):
    body = start(client_for(cast.viewer), text="trees").json()
    assert client_for(cast.outsider).get(f"{START}{body['id']}/").status_code == 404
    assert client_for(None).get(f"{START}{body['id']}/").status_code in (401, 403)


def test_bad_input_is_a_clear_400_and_writes_nothing(cast, client_for, assistant_on):
    client = client_for(cast.viewer)
    assert start(client, text="").status_code == 400
    assert start(client, text="x", k=99).status_code == 400
    assert AssistRequest.objects.count() == 0


def test_off_answers_404_and_the_page_shows_no_panel(cast, client_for, settings):
    settings.CBIR_ASSISTANT = "off"
    response = start(client_for(cast.viewer), text="x")
    assert response.status_code == 404 and response.json()["code"] == "assistant_off"
    from django.test import Client

    web = Client()
    web.force_login(cast.viewer)
    assert b"assistant-panel" not in web.get("/search/").content


def test_the_page_shows_the_panel_when_on(cast, assistant_on):
    from django.test import Client

    web = Client()
    web.force_login(cast.viewer)
    page = web.get("/search/").content.decode()
    assert 'id="assistant-panel"' in page and "cbir/assistant.js" in page


def test_the_rate_limit_answers_429_json(cast, client_for, assistant_on, monkeypatch):
    rates = {"assist": "2/min", "anon": "1000/min", "user": "1000/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    client = client_for(cast.viewer)
    codes = [start(client, text=f"q{i}").status_code for i in range(3)]
    assert codes == [202, 202, 429]
    third = start(client, text="again")
    assert third.status_code == 429 and third["Content-Type"].startswith("application/json")
    assert third.json()
