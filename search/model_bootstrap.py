"""What `./cbir up` does about models: serve at once, fetch the recommended one in the background.

The server always starts on what is on this machine (the bundled encoder on a
first run). On a connected machine the recommended model is then pulled by a
child process and activated (a candidate; search switches once it is ready).
Where the hub cannot be reached, a short probe (CBIR_MODEL_HUB_TIMEOUT_S) finds
out; that is said once, on the console and to staff in the UI, and nothing
else is tried until the next start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from indexing.model_catalogue import RECOMMENDED, known_model, models_dir
from indexing.model_models import ManagedModel
from indexing.model_store import hub_probe, manual_instructions, model_files_present
from search.config import search_config


@dataclass(frozen=True)
class BootstrapPlan:
    pull: bool  # start a background pull of `key`
    key: str
    message: str  # one console line


def settings_model_follow() -> str | None:
    """Pin the model search uses; a change of the encoder settings becomes a blue-green switch.

    The first start records the model the settings select as the active one. Later,
    when the settings select another model than at the previous start (CBIR_ENCODER,
    CBIR_OPENCLIP_*, or `auto` finding weights copied in by hand), that model becomes
    the candidate instead of replacing the active one at once. Returns a console line.
    """
    import json

    from indexing.encoders.base import EncoderUnavailable, model_name_for
    from indexing.runtime import settings_encoder_config
    from search.model_switch import active_row, model_activate_config

    active = active_row()
    config = settings_encoder_config()
    try:
        wanted = model_name_for(config)
    except EncoderUnavailable as exc:
        return (
            f"Models: the settings' encoder is unavailable ({exc}); search stays on {active.key}."
        )
    marker = models_dir() / "settings-model.json"
    try:
        previous = json.loads(marker.read_text()).get("model_name")
    except (OSError, ValueError):
        previous = None
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"model_name": wanted}))
    if wanted == active.model_name or previous in (None, wanted):
        return None
    row = model_activate_config(config=config, model_name=wanted)
    return (
        f"Models: the settings now select {wanted}: it is the candidate; search stays on "
        f"{active.model_name} until the candidate has embedded the collection."
        if row.role == "candidate"
        else None
    )


def bootstrap_plan(*, offline: bool) -> BootstrapPlan:
    """Decide, within seconds, whether to pull the recommended model; record why not."""
    from search.model_switch import model_activate, model_row

    model = known_model(RECOMMENDED)
    row = model_row(model.key)
    if row.role in (ManagedModel.Role.ACTIVE, ManagedModel.Role.CANDIDATE):
        return BootstrapPlan(False, model.key, f"Models: {model.key} is {row.role}.")
    if model_files_present(model):
        if row.role == ManagedModel.Role.RETIRED:  # someone switched away on purpose
            return BootstrapPlan(False, model.key, f"Models: {model.key} is here (retired).")
        model_activate(key=model.key)
        return BootstrapPlan(
            False,
            model.key,
            f"Models: {model.key} is here; search switches to it once the workers have "
            "embedded the collection with it.",
        )
    if offline or not search_config().model_auto_pull:
        why = "--offline" if offline else "CBIR_MODEL_AUTO_PULL is off"
        return BootstrapPlan(
            False, model.key, f"Models: {why}: serving with what is here; no download."
        )
    reason = hub_probe()
    if reason is not None:
        message = (
            f"Models: not pulling {model.key}: {reason}. Serving with what is here. "
            + manual_instructions(model)
        )
        _record_failure(row, message)
        return BootstrapPlan(False, model.key, message)
    return BootstrapPlan(
        True,
        model.key,
        f"Models: pulling {model.key} (~{model.download_bytes / 1e6:.0f} MB) in the background; "
        "search switches to it once it is embedded (progress: admin, Models).",
    )


def _record_failure(row: ManagedModel, message: str) -> None:
    ManagedModel.objects.filter(pk=row.pk).update(
        pull_state=ManagedModel.PullState.FAILED,
        pull_message=message[:4000],
        pull_finished_at=timezone.now(),
    )


def staff_model_notice() -> str | None:
    """One line for staff: a pull in progress, a switch under way, or why there is neither."""
    rows = list(
        ManagedModel.objects.filter(
            Q(pull_state__in=["queued", "running", "failed"]) | Q(role="candidate")
        ).order_by("-role")  # the candidate first
    )
    for row in rows:
        if row.role == "candidate":
            note = row.switch_note or "embedding the collection"
            return f"Switching search to {row.key}: {note}."
        if row.pull_state in ("queued", "running"):
            share = f" {row.pull_done / row.pull_total:.0%}" if row.pull_total else ""
            return f"Downloading the model {row.key}{share}."
        if row.pull_state == "failed":
            return f"The model {row.key} could not be pulled: {row.pull_message.split('. ')[0]}."
    return None
