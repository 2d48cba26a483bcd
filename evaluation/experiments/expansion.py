"""Collection expansion from simulated feedback (the source 002, sections 3.7 and 5.3).

Protocol, as the source: for each image, two of its captions play the
queries users confirmed (they searched with that caption and marked the
image relevant), the other captions are the test queries. The feedback is
written through the platform's own services (a search session per simulated
user and caption, a "relevant" judgement), the expansion task recomputes
from that log, and the test captions are searched with and without text
expansion and hot-image refinement, under several admission settings.

The source saw naive expansion (every caption attached) lower R@1 from 43.2
to 39.2; the admission rules exist because of that. With `supporters`
simulated users per confirmed caption, rules asking for more distinct
users than that admit nothing (that row shows it).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model
from django.test.utils import override_settings

from cbir_site.config import site_config
from cbir_site.errors import InvalidInputError
from evaluation.datasets import TEXT, Query
from evaluation.experiments.common import RANK_COLUMNS, Context, Scored, rank_row, score
from evaluation.experiments.retrieval import recall_plot
from evaluation.report import Section, Table
from feedback.models import Expansion, Judgement, RefinedVector, SearchSession
from feedback.services import judgement_record, search_session_start
from feedback.tasks import update_expansions
from galleries.models import Membership
from indexing.index_sync import manager
from search.request import Mode, SearchRequest

CONFIRMED_PER_IMAGE = 2
SUPPORTERS = 2  # simulated users confirming each caption

# label, settings
CONFIGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("no expansion", {"CBIR_EXPANSION": False, "CBIR_HOT_REFINEMENT": False}),
    (
        "text expansion (default rules: 2 users, support 2, cap 5)",
        {"CBIR_EXPANSION": True, "CBIR_HOT_REFINEMENT": False},
    ),
    (
        "text expansion, cap 1 per image",
        {"CBIR_EXPANSION": True, "CBIR_HOT_REFINEMENT": False, "CBIR_EXPANSION_MAX_PER_IMAGE": 1},
    ),
    (
        "text expansion, 3 users needed (admits nothing here)",
        {"CBIR_EXPANSION": True, "CBIR_HOT_REFINEMENT": False, "CBIR_EXPANSION_MIN_SUPPORTERS": 3},
    ),
    (
        "hot-image refinement (beta 0.5, cosine >= 0.9)",
        {"CBIR_EXPANSION": False, "CBIR_HOT_REFINEMENT": True, "CBIR_HOT_MIN_CONFIRMATIONS": 2},
    ),
    (
        "hot-image refinement, looser (beta 1, cosine >= 0.7)",
        {
            "CBIR_EXPANSION": False,
            "CBIR_HOT_REFINEMENT": True,
            "CBIR_HOT_MIN_CONFIRMATIONS": 2,
            "CBIR_HOT_BETA": 1.0,
            "CBIR_HOT_MIN_COSINE": 0.7,
        },
    ),
    (
        "text expansion + hot-image refinement",
        {"CBIR_EXPANSION": True, "CBIR_HOT_REFINEMENT": True, "CBIR_HOT_MIN_CONFIRMATIONS": 2},
    ),
)


def run(ctx: Context) -> Section:
    section = Section(name="expansion", title="Collection expansion from logged feedback")
    confirmed, tests = split_captions(ctx)
    if not confirmed or not tests:
        section.notes.append("Needs a caption dataset with at least three captions per image.")
        return section
    users = _simulated_users(ctx)
    judged = _write_feedback(ctx, confirmed, users)
    image_ids = sorted({image for image, _ in confirmed})
    results: dict[str, Scored] = {}
    stored: dict[str, dict[str, int]] = {}
    for label, overrides in CONFIGS:
        with override_settings(**overrides):
            update_expansions.run(image_ids)  # recomputed from the log under these rules
            manager.clear()
            rankings = [ctx.search(q) for q in ctx.bar(tests, f"expansion: {label[:30]}")]
            results[label] = score(ctx, TEXT, tests, rankings)
            stored[label] = {
                "admitted expansions": Expansion.objects.filter(
                    image_id__in=image_ids, status=Expansion.Status.ADMITTED
                ).count(),
                "refined vectors": RefinedVector.objects.filter(image_id__in=image_ids).count(),
            }
        manager.clear()
    update_expansions.run(image_ids)  # back to the deployment's own settings
    section.tables.append(
        Table(
            title="Test captions: Recall@K and rank of the target image",
            columns=["Setting", "Queries", "Expansions", "Refined", *RANK_COLUMNS],
            rows=[
                [
                    label,
                    s.ranks.queries,
                    stored[label]["admitted expansions"],
                    stored[label]["refined vectors"],
                    *rank_row(s.ranks),
                ]
                for label, s in results.items()
            ],
            notes=[
                f"{CONFIRMED_PER_IMAGE} captions per image were confirmed, each by {SUPPORTERS} "
                f"simulated users (a search session and a 'relevant' judgement each: "
                f"{judged} of {len(confirmed) * len(users)} judgements written, the others' "
                f"images were not within the top {site_config().search_max_k}); the other "
                f"captions are the "
                f"{len(tests)} test queries. N = {ctx.collection_size}.",
            ],
        )
    )
    section.plots.append(recall_plot("expansion.png", "Collection expansion: Recall@K", results))
    section.data = {
        "confirmed_per_image": CONFIRMED_PER_IMAGE,
        "supporters": SUPPORTERS,
        "settings": {label: overrides for label, overrides in CONFIGS},
        "results": {
            label: {"ranks": s.ranks, "stored": stored[label]} for label, s in results.items()
        },
    }
    return section


def split_captions(ctx: Context) -> tuple[list[tuple[int, Query]], list[Query]]:
    """(image id, caption) pairs to confirm, and the test captions (the rest)."""
    by_image: dict[int, list[Query]] = defaultdict(list)
    for query in ctx.queries(TEXT):
        relevant = ctx.relevant(query)
        if len(relevant) == 1:
            by_image[next(iter(relevant))].append(query)
    confirmed, tests = [], []
    for image_id, queries in sorted(by_image.items()):
        queries.sort(key=lambda q: q.id)
        if len(queries) <= CONFIRMED_PER_IMAGE:
            continue
        confirmed += [(image_id, q) for q in queries[:CONFIRMED_PER_IMAGE]]
        tests += queries[CONFIRMED_PER_IMAGE:]
    return confirmed, tests


def _simulated_users(ctx: Context) -> list[Any]:
    users = []
    for n in range(SUPPORTERS):
        user, _ = get_user_model().objects.get_or_create(username=f"cbir-eval-supporter-{n}")
        for gallery in ctx.loaded.galleries.values():
            Membership.objects.get_or_create(
                gallery=gallery, user=user, defaults={"role": "viewer"}
            )
        users.append(user)
    return users


def _write_feedback(ctx: Context, confirmed: list[tuple[int, Query]], users: list[Any]) -> int:
    """One session and one 'relevant' judgement per user and confirmed caption (idempotent).

    Only shown results can be judged, so each session shows as many results as a
    search may (the simulated user scrolls until the image appears); a caption
    whose image is not among them is not confirmed. Returns the judgements written.
    """
    SearchSession.objects.filter(user__in=users).delete()  # a re-run starts from a clean log
    k = site_config().search_max_k
    for user in users:
        for image_id, query in ctx.bar(confirmed, f"feedback of {user.username}"):
            session, _, _ = search_session_start(
                user=user,
                request=SearchRequest(
                    text=query.text, gallery_slugs=ctx.loaded.slugs, mode=Mode.TOPK, k=k
                ),
            )
            with contextlib.suppress(InvalidInputError):  # not within the top k: not confirmed
                judgement_record(session=session, user=user, image_id=image_id, label="relevant")
    return Judgement.objects.filter(user__in=users).count()
