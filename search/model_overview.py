"""What the admin's Models page, `cbir_models status` and /api/v1/models/ show."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import Count

from galleries.models import Gallery, Image
from indexing.model_catalogue import catalogue
from indexing.model_models import ManagedModel
from indexing.model_store import files_size, model_files_present
from indexing.models import Embedding
from indexing.runtime import (
    active_model_name,
)
from search.config import search_config
from search.model_switch import candidate_readiness, model_identity

logger = logging.getLogger(__name__)

Role = ManagedModel.Role

# ---------------------------------------------------------------- overview


def models_overview() -> list[dict[str, Any]]:
    """Every known model with its size, presence, identity, role, pull and coverage."""
    rows = {r.key: r for r in ManagedModel.objects.all()}
    if not any(r.role == Role.ACTIVE for r in rows.values()):
        active_name = active_model_name()
    else:
        active_name = next(r.model_name for r in rows.values() if r.role == Role.ACTIVE)
    counts = dict(
        Embedding.objects.values_list("model_name")
        .annotate(n=Count("id"))
        .values_list("model_name", "n")
    )
    out = []
    keys = list(catalogue()) + [k for k in rows if k not in catalogue()]
    for key in keys:
        entry = catalogue().get(key)
        row = rows.get(key)
        identity = row.model_name if row else (model_identity(entry) if entry else None)
        role = row.role if row else ""
        if not role and identity == active_name:
            role = "active"
        out.append(
            {
                "key": key,
                "title": entry.title if entry else key,
                "kind": entry.kind if entry else (row.config.get("kind") if row else ""),
                "recommended": bool(entry and entry.recommended),
                "download_bytes": entry.download_bytes if entry else 0,
                "stored_bytes": files_size(entry) if entry else 0,
                "present": model_files_present(entry) if entry else True,
                "identity": identity,
                "role": role,
                "embeddings": counts.get(identity, 0) if identity else 0,
                "pull_state": row.pull_state if row else "idle",
                "pull_done": row.pull_done if row else 0,
                "pull_total": row.pull_total if row else None,
                "pull_message": row.pull_message if row else "",
                "switch_note": row.switch_note if row else "",
                "note": entry.note if entry else "",
            }
        )
    return out


def models_status() -> dict[str, Any]:
    """The active model, the candidate with its readiness and per-gallery progress."""
    active = ManagedModel.objects.filter(role=Role.ACTIVE).first()
    candidate = ManagedModel.objects.filter(role=Role.CANDIDATE).first()
    status: dict[str, Any] = {
        "active": {
            "key": active.key if active else None,
            "model_name": active.model_name if active else active_model_name(),
            "since": active.role_since if active else None,
            "source": "managed" if active else "settings",
        },
        "candidate": None,
        "retired": list(
            ManagedModel.objects.filter(role=Role.RETIRED).values_list("key", flat=True)
        ),
        "switch_coverage": search_config().model_switch_coverage,
    }
    if candidate is not None:
        readiness = candidate_readiness(candidate)
        status["candidate"] = {
            "key": candidate.key,
            "model_name": candidate.model_name,
            "since": candidate.role_since,
            "ready_images": readiness.ready_images,
            "embedded": readiness.covered,
            "coverage": round(readiness.coverage, 4),
            "cutoffs": readiness.cutoffs or "missing",
            "statistics_missing": readiness.statistics_missing,
            "waiting_for": readiness.waiting,
            "note": candidate.switch_note,
            "galleries": candidate_progress(),
        }
    return status


def candidate_progress() -> list[dict[str, Any]]:
    """Per gallery: ready images and how many the candidate has embedded."""
    candidate = ManagedModel.objects.filter(role=Role.CANDIDATE).first()
    if candidate is None:
        return []
    ready = dict(
        Image.objects.filter(status=Image.Status.READY)
        .values_list("gallery_id")
        .annotate(n=Count("id"))
        .values_list("gallery_id", "n")
    )
    done = dict(
        Embedding.objects.filter(model_name=candidate.model_name, image__status="ready")
        .values_list("gallery_id")
        .annotate(n=Count("id"))
        .values_list("gallery_id", "n")
    )
    slugs = dict(Gallery.objects.filter(pk__in=ready).values_list("pk", "slug"))
    return [
        {
            "gallery": slugs.get(g, str(g)),
            "ready": n,
            "embedded": done.get(g, 0),
            "progress": round(min(done.get(g, 0) / n, 1.0), 4) if n else 1.0,
        }
        for g, n in sorted(ready.items(), key=lambda item: slugs.get(item[0], ""))
    ]
