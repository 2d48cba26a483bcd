"""`./cbir up` and models: serve at once, pull in the background, an unreachable hub said once."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

from cbir_site.management.commands.cbir_serve import Command as ServeCommand
from indexing.config import indexing_config
from indexing.model_catalogue import RECOMMENDED
from indexing.model_models import ManagedModel
from search.model_bootstrap import bootstrap_plan, staff_model_notice
from tests.factories import UserFactory
from tests.hub_server import HubState, hub_server
from tests.services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings, tmp_path, monkeypatch):
    settings.CBIR_DATA_DIR = tmp_path / "data"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_an_unreachable_hub_costs_seconds_and_is_said_to_staff(
    data_dir, monkeypatch, settings, client
):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    bootstrap_plan(offline=True)  # the catalogue and database once, outside the timing
    started = time.monotonic()
    plan = bootstrap_plan(offline=False)
    assert time.monotonic() - started < indexing_config().model_hub_timeout_s + 1
    assert not plan.pull and "cannot be reached" in plan.message and "by hand" in plan.message
    row = ManagedModel.objects.get(key=RECOMMENDED)
    assert row.pull_state == "failed" and "cannot be reached" in row.pull_message
    notice = staff_model_notice()
    assert notice is not None and RECOMMENDED in notice and "cannot be reached" in notice

    client.force_login(UserFactory(username="staffer", is_staff=True))
    page = client.get("/galleries/").content.decode()
    assert 'data-testid="model-notice"' in page and "cannot be reached" in page
    client.force_login(UserFactory(username="plain"))
    assert 'data-testid="model-notice"' not in client.get("/galleries/").content.decode()
    # Search is untouched: the settings' model (the fake encoder here) stays active.
    assert not ManagedModel.objects.filter(role="candidate").exists()


def test_offline_skips_the_download_without_asking_the_hub(data_dir, monkeypatch):
    state = HubState()
    with hub_server(state) as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        plan = bootstrap_plan(offline=True)
    assert not plan.pull and "--offline" in plan.message
    assert state.requests == []


def test_a_reachable_hub_starts_a_background_pull(data_dir, monkeypatch):
    state = HubState()
    with hub_server(state) as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        plan = bootstrap_plan(offline=False)
    assert plan.pull and plan.key == RECOMMENDED and "background" in plan.message
    assert ServeCommand()._pull_cmd(plan.key)[-3:] == ["pull", RECOMMENDED, "--activate"]


def test_the_serve_command_reports_the_pulls_end_once():
    out = io.StringIO()
    command = ServeCommand(stdout=out)
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    pull = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    with pytest.raises(SystemExit):  # the stand-in server exits: the command stops
        command._pull = pull
        command._supervise([server])
    text = out.getvalue()
    assert text.count("Models: the pull failed") == 1 and "stays on the current model" in text


def test_a_change_of_the_encoder_settings_becomes_a_candidate_not_a_blank_index(data_dir, settings):
    from indexing.runtime import active_model_name, model_selection
    from search.model_bootstrap import settings_model_follow

    assert settings_model_follow() is None  # first start: the settings' model is pinned
    assert ManagedModel.objects.get(role="active").model_name == "fake:colour-v1"
    assert settings_model_follow() is None  # unchanged settings: nothing to do
    settings.CBIR_ENCODER = "bundled"
    message = settings_model_follow()
    assert message is not None and "candidate" in message
    candidate = ManagedModel.objects.get(role="candidate")
    assert candidate.model_name.startswith("bundled:") and candidate.config["kind"] == "bundled"
    model_selection(fresh=True)
    assert active_model_name() == "fake:colour-v1"  # search stays until the candidate is ready
    assert settings_model_follow() is None  # said once
