"""Collection expansion and hot-image refinement, recomputed from the judgement log.

Everything here is derived from the log and the rules in settings, so it can
be switched off and recomputed at any time. A judgement schedules its image
(debounced); the task recomputes that image's expansion texts and refined
vector and tells the in-memory indexes through the change feed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from django.db import transaction
from django.utils import timezone

from cbir_site.config import site_config
from cbir_site.debounce import clear, debounce
from cbir_site.errors import InvalidInputError
from feedback.config import feedback_config
from feedback.expansion import (
    AdmissionRules,
    Tally,
    Vote,
    admitted,
    merge_near_duplicates,
    refine_hot,
    tally,
    text_key,
)
from feedback.models import Expansion, Judgement, RefinedVector
from galleries.models import Image
from indexing.announce import vectors_changed
from indexing.config import indexing_config
from indexing.encoders.base import Encoder
from indexing.vector_io import load_vectors

logger = logging.getLogger(__name__)
STICKY = (Expansion.Status.APPROVED, Expansion.Status.REMOVED)  # a manager's decision stands


def rules() -> AdmissionRules:
    config = feedback_config()
    return AdmissionRules(
        min_support=config.expansion_min_support,
        min_supporters=config.expansion_min_supporters,
        max_per_image=indexing_config().expansion_max_per_image,
        half_life_days=config.expansion_half_life_days,
    )


def votes_for(image_ids: Sequence[int]) -> dict[int, list[tuple[Vote, str]]]:
    """Each user's latest judgement of each image per query text, with the text as typed.

    Only sessions that searched by words alone count: a judgement of a
    composed query is about the words and the pictures together.
    """
    rows = (
        Judgement.objects.filter(image_id__in=image_ids)
        .filter(session__example_image_ids=[], session__uploaded_example=False)
        .filter(session__negative_text="")
        .exclude(session__query_text="")
        .order_by("id")
        .values_list("image_id", "user_id", "label", "created_at", "session__query_text")
    )
    latest: dict[tuple[int, int, str], tuple[str, object, str]] = {}
    for image_id, user_id, label, created_at, text in rows:
        latest[(image_id, user_id, text_key(text))] = (label, created_at, text)
    now = timezone.now()
    out: dict[int, list[tuple[Vote, str]]] = defaultdict(list)
    for (image_id, user_id, key), (label, created_at, text) in latest.items():
        if label == Judgement.Label.WITHDRAWN or not key:
            continue
        # Whole days: a confirmation keeps its full weight on the day it is made.
        age = (now - created_at).days
        out[image_id].append((Vote(user_id, key, label == Judgement.Label.RELEVANT, age), text))
    return out


def expansions_update(*, image_ids: Sequence[int], encoder: Encoder) -> list[int]:
    """Recompute the query-sourced expansions of these images; return the images that changed."""
    votes = votes_for(image_ids)
    texts = {
        key: text
        for image_votes in votes.values()
        for vote, text in image_votes
        for key in [vote.key]
    }
    vectors = _text_vectors(encoder, list(texts), texts)
    changed = []
    for image in Image.objects.filter(pk__in=image_ids):
        if _update_image(image, votes.get(image.pk, []), vectors, encoder):
            changed.append(image.pk)
    _announce(changed)
    return changed


def _update_image(
    image: Image, votes: list[tuple[Vote, str]], vectors: dict[str, np.ndarray], encoder: Encoder
) -> bool:
    plain = tally([v for v, _ in votes], feedback_config().expansion_half_life_days)
    order = sorted(plain, key=lambda key: (-plain[key].support, key))
    canonical = (
        merge_near_duplicates(
            order, np.stack([vectors[k] for k in order]), feedback_config().expansion_merge_cosine
        )
        if order
        else {}
    )
    merged_votes = [Vote(v.user_id, canonical[v.key], v.relevant, v.age_days) for v, _ in votes]
    tallies = tally(merged_votes, feedback_config().expansion_half_life_days)
    raw = {canonical[v.key]: text for v, text in votes if canonical[v.key] == v.key}
    existing = {e.text_key: e for e in image.expansions.filter(model_name=encoder.name)}
    reserved = sum(1 for e in existing.values() if e.status == Expansion.Status.APPROVED)
    # A manager's decision stands outside the contest: approved rows hold their places
    # (reserved), removed ones take none.
    open_keys = {
        key: counts
        for key, counts in tallies.items()
        if key not in existing or existing[key].status not in STICKY
    }
    chosen = set(admitted(open_keys, rules(), reserved)) if indexing_config().expansion else set()
    changed = False
    with transaction.atomic():
        for key, counts in tallies.items():
            changed |= _upsert(
                image, encoder, key, raw.get(key, key), counts, key in chosen, vectors, existing
            )
        stale = [
            e.pk
            for key, e in existing.items()
            if key not in tallies and e.source == Expansion.Source.QUERY and e.status not in STICKY
        ]
        if stale:
            Expansion.objects.filter(pk__in=stale).delete()
            changed = True
    return changed


def _upsert(image, encoder, key, text, counts: Tally, admit: bool, vectors, existing) -> bool:  # type: ignore[no-untyped-def]
    row = existing.get(key)
    status = Expansion.Status.ADMITTED if admit else Expansion.Status.CANDIDATE
    if row is not None and row.status in STICKY:
        status = row.status
    fields = {
        "support": counts.support,
        "supporters": counts.supporters,
        "rejections": counts.rejections,
        "status": status,
        "vector": vectors.get(key)
        if status in (Expansion.Status.ADMITTED, Expansion.Status.APPROVED)
        else None,
    }
    if row is None:
        Expansion.objects.create(
            image=image,
            gallery_id=image.gallery_id,
            model_name=encoder.name,
            source=Expansion.Source.QUERY,
            text=text,
            text_key=key,
            **fields,
        )
        return status == Expansion.Status.ADMITTED
    was_used = row.status in (Expansion.Status.ADMITTED, Expansion.Status.APPROVED)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return was_used != (status in (Expansion.Status.ADMITTED, Expansion.Status.APPROVED))


def caption_add(*, image: Image, text: str, user, encoder: Encoder) -> Expansion:  # type: ignore[no-untyped-def]
    """A manager's caption: shown to everyone who may see the image, always searchable."""
    key = text_key(text)
    if not key:
        raise InvalidInputError("The caption is empty.")
    vector = encoder.encode_texts([text.strip()])[0]
    row, _ = Expansion.objects.update_or_create(
        image=image,
        model_name=encoder.name,
        text_key=key,
        defaults={
            "gallery_id": image.gallery_id,
            "source": Expansion.Source.CAPTION,
            "text": text.strip(),
            "status": Expansion.Status.APPROVED,
            "vector": vector,
            "created_by": user,
        },
    )
    _announce([image.pk])
    return row


def expansion_set_status(*, expansion: Expansion, status: str) -> Expansion:
    """A manager approves (always used), removes (never used) or readmits an expansion.

    Readmitting hands a confirmed query back to the admission rules: it is
    re-tallied from the log at once. Captions have no support to tally.
    """
    from indexing.runtime import get_encoder

    if status not in Expansion.Status.values:
        raise InvalidInputError(f"status must be one of {', '.join(Expansion.Status.values)}.")
    if status == Expansion.Status.CANDIDATE and expansion.source == Expansion.Source.CAPTION:
        raise InvalidInputError(
            "A caption is not admitted by support: approve it, remove it or delete it."
        )
    expansion.status = status
    if status in (Expansion.Status.REMOVED, Expansion.Status.CANDIDATE):
        expansion.vector = None  # type: ignore[assignment]  # the column's value, typed as pgvector's field class
    elif expansion.vector is None:
        expansion.vector = get_encoder().encode_texts([expansion.text])[0]
    expansion.save()
    if status == Expansion.Status.CANDIDATE:
        expansions_update(image_ids=[expansion.image_id], encoder=get_encoder())
        expansion.refresh_from_db()
    _announce([expansion.image_id])
    return expansion


def expansion_delete(*, expansion: Expansion) -> str:
    """Delete a caption; a confirmed query is removed instead (what happened: the new status).

    Deleting a query's row would not last: the next tally of the log would
    create it again. Removal is the lasting form of "never use this".
    """
    if expansion.source == Expansion.Source.QUERY:
        return expansion_set_status(expansion=expansion, status=Expansion.Status.REMOVED).status
    image_id = expansion.image_id
    expansion.delete()
    _announce([image_id])
    return "deleted"


def refined_vectors_update(*, image_ids: Sequence[int], encoder: Encoder) -> list[int]:
    """Recompute hot images' refined vectors (or drop them when refinement is off)."""
    existing = set(
        RefinedVector.objects.filter(image_id__in=image_ids, model_name=encoder.name).values_list(
            "image_id", flat=True
        )
    )
    if not indexing_config().hot_refinement:
        RefinedVector.objects.filter(image_id__in=image_ids, model_name=encoder.name).delete()
        _announce(sorted(existing))
        return sorted(existing)
    votes = votes_for(image_ids)
    originals = load_vectors(encoder.name, image_ids=list(image_ids))
    changed = []
    for image_id, original in zip(originals.image_ids.tolist(), originals.vectors, strict=True):
        image_votes = [v for v, _ in votes.get(image_id, [])]
        confirmed_users = {v.user_id for v in image_votes if v.relevant}
        if len(confirmed_users) < feedback_config().hot_min_confirmations:
            if image_id in existing:
                RefinedVector.objects.filter(image_id=image_id, model_name=encoder.name).delete()
                changed.append(image_id)
            continue
        good = sorted({v.key for v in image_votes if v.relevant})
        bad = sorted({v.key for v in image_votes if not v.relevant})
        vectors = _text_vectors(encoder, good + bad, {})
        refined, cosine = refine_hot(
            original,
            np.array([vectors[k] for k in good]).reshape(-1, len(original)),
            np.array([vectors[k] for k in bad]).reshape(-1, len(original)),
            beta=feedback_config().hot_beta,
            gamma=feedback_config().hot_gamma,
            min_cosine=feedback_config().hot_min_cosine,
        )
        RefinedVector.objects.update_or_create(
            image_id=image_id,
            model_name=encoder.name,
            defaults={
                "vector": refined,
                "cosine_to_original": cosine,
                "confirmed": len(good),
                "rejected": len(bad),
            },
        )
        changed.append(image_id)
    _announce(changed)
    return changed


def expansion_schedule(*, image_ids: Sequence[int]) -> list[int]:
    """Recompute these images after a quiet period (debounced like gallery statistics)."""
    if not site_config().background_tasks:
        return []
    from feedback.tasks import update_expansions

    delay = feedback_config().expansion_debounce_s
    return debounce(
        image_ids,
        mark=_pending_key,
        delay=delay,
        send=lambda scheduled: update_expansions.apply_async((scheduled,), countdown=delay),
        what="expansion texts",
    )


def expansion_pending_clear(image_ids: Sequence[int]) -> None:
    clear(image_ids, mark=_pending_key)


def _pending_key(image_id: int) -> str:
    return f"cbir:expansion-pending:{image_id}"


def _text_vectors(
    encoder: Encoder, keys: list[str], texts: dict[str, str]
) -> dict[str, np.ndarray]:
    if not keys:
        return {}
    encoded = encoder.encode_texts([texts.get(k, k) for k in keys])
    return dict(zip(keys, encoded, strict=True))


def _announce(image_ids: Sequence[int]) -> None:
    """Every process's index reloads these images (their expansions or refined vector changed)."""
    if image_ids:
        vectors_changed(image_ids)
