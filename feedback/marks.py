"""The judgement log as relevance marks for search's cutoff fit (search/mark_sources.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from django.db.models import Max

from feedback.models import Judgement
from search.mark_sources import Mark
from search.request import Composition


class JudgementMarks:
    def latest_per_model(self) -> Iterable[tuple[str, int]]:
        return (
            Judgement.objects.values("session__model_name")
            .annotate(last=Max("id"))
            .values_list("session__model_name", "last")
        )

    def newest_marks(self, model_name: str, limit: int) -> Iterator[Mark]:
        """Fused scores of two_phase sessions are skipped: they are not similarities."""
        rows = (
            Judgement.objects.filter(session__model_name=model_name, score__isnull=False)
            .exclude(session__composition=Composition.TWO_PHASE)
            .order_by("-id")
            .values_list(
                "id",
                "session_id",
                "image_id",
                "label",
                "score",
                "image__gallery_id",
                "session__query_text",
                "session__example_image_ids",
                "session__uploaded_example",
                "iteration__query_vector",
            )[:limit]
        )
        for pk, session, image, label, score, gallery, text, examples, uploaded, vector in rows:
            yield Mark(
                id=pk,
                session=session,
                image=image,
                relevant=None
                if label == Judgement.Label.WITHDRAWN
                else label == Judgement.Label.RELEVANT,
                score=score,
                gallery=gallery,
                text_query=bool(text and not examples and not uploaded),
                query_vector=None if vector is None else np.asarray(vector, dtype=np.float32),
            )


source = JudgementMarks()
