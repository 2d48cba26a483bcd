"""The words of an explanation, from a session's stored query: computed by the worker.

Concepts (bundled encoder only) and the composed query's parts with their
contributions, as JSON-ready dicts. The parts are those of the session's
original query, so they add up to the score of iteration 0; a Rocchio
iteration's query is no longer that sum (its rank change is told instead,
at request time: explain/selectors.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from PIL.Image import Image as PILImage

from explain.words import (
    QueryPart,
    bundled_concepts,
    two_phase_ranks,
    weighted_sum_contributions,
)
from feedback.models import SearchIteration, SearchSession
from indexing.runtime import encode_query_texts
from indexing.vector_io import load_vectors
from search.compose import Part, weighted_sum
from search.config import search_config
from search.request import Composition, Fusion

TOP_CONCEPTS = 5


def concepts_of(encoder: Any, picture: PILImage, query: np.ndarray) -> list[dict]:
    if not hasattr(encoder, "class_probabilities"):
        return []
    probs = encoder.class_probabilities([picture])[0]
    concepts = bundled_concepts(
        probs, encoder._class_vectors, encoder.class_names, encoder.top_classes, query
    )
    return [
        {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(c).items()}
        for c in concepts[:TOP_CONCEPTS]
    ]


def session_parts(encoder: Any, session: SearchSession) -> list[QueryPart]:
    """The session's query as signed, weighted parts, as search/query.py `summed` builds it."""
    params = session.params or {}
    text_w = float(params.get("text_weight", 1.0))
    image_w = float(params.get("image_weight", 1.0))
    neg_w = float(params.get("negative_weight", search_config().negative_weight))
    texts = [t for t in (session.query_text, session.negative_text) if t]
    encoded = dict(zip(texts, encode_query_texts(encoder, texts), strict=True)) if texts else {}
    stored = _vectors(encoder.name, [*session.example_image_ids, *session.negative_image_ids])
    examples = [i for i in session.example_image_ids if i in stored]
    negatives = (
        [("negative_text", session.negative_text, encoded[session.negative_text])]
        if session.negative_text
        else []
    )
    negatives += [
        ("negative_example", f"image {i}", stored[i])
        for i in session.negative_image_ids
        if i in stored
    ]
    n_examples = len(examples) + int(session.uploaded_example)
    parts = (
        [QueryPart("text", session.query_text, text_w, encoded[session.query_text])]
        if session.query_text
        else []
    )
    parts += [QueryPart("example", f"image {i}", image_w / n_examples, stored[i]) for i in examples]
    parts += [
        QueryPart(kind, label, -neg_w / len(negatives), vector) for kind, label, vector in negatives
    ]
    return parts


def parts_of(
    encoder: Any, session: SearchSession, iteration: SearchIteration, image_id: int
) -> dict[str, Any]:
    own = _vectors(encoder.name, [image_id]).get(image_id)
    if own is None:
        return {"note": "The image has no stored vector for this model yet."}
    if session.uploaded_example:
        return {"note": "An uploaded example image is not kept, so its part cannot be shown."}
    parts = session_parts(encoder, session)
    if session.composition == Composition.TWO_PHASE:
        return {"two_phase": _two_phase(encoder.name, session, iteration, parts, image_id)}
    if iteration.number != 0:
        return {"note": "Refined by Rocchio: the query is no longer the sum of its parts."}
    terms, score = weighted_sum_contributions(parts, own)
    return {
        "composition": Composition.SUM,
        "score": round(score, 6),
        "terms": [
            {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(t).items()}
            for t in terms
        ],
    }


def _two_phase(
    model_name: str,
    session: SearchSession,
    iteration: SearchIteration,
    parts: list[QueryPart],
    image_id: int,
) -> dict[str, Any]:
    ids = [row[0] for row in iteration.results]
    stored = _vectors(model_name, ids)
    kept = [i for i in ids if i in stored]
    if image_id not in kept:
        return {}
    neg_w = float((session.params or {}).get("negative_weight", search_config().negative_weight))
    # As search/query.py `text_side`: the unwanted words weigh the whole negative weight here.
    text_side = weighted_sum(
        [
            Part(p.vector, p.weight if p.kind == "text" else -neg_w)
            for p in parts
            if p.kind.endswith("text")
        ]
    )
    examples = [p.vector for p in parts if p.kind == "example"]
    negatives = [p.vector for p in parts if p.kind == "negative_example"]
    dim = text_side.shape[0]
    fused = next((row[2] for row in iteration.results if row[0] == image_id), None)
    ranks = two_phase_ranks(
        image_index=kept.index(image_id),
        candidates=np.stack([stored[i] for i in kept]),
        text_side=text_side,
        examples=np.asarray(examples, np.float32).reshape(-1, dim),
        negatives=np.asarray(negatives, np.float32).reshape(-1, dim),
        negative_weight=neg_w,
        fused_score=fused,
    )
    return {
        **asdict(ranks),
        "among": len(kept),
        "fusion": (session.params or {}).get("fusion", Fusion.LOG_VOTE),
    }


def _vectors(model_name: str, image_ids: list[int]) -> dict[int, np.ndarray]:
    if not image_ids:
        return {}
    chunk = load_vectors(model_name, image_ids=list(dict.fromkeys(image_ids)))
    return {
        int(i): np.asarray(v, np.float32)
        for i, v in zip(chunk.image_ids, chunk.vectors, strict=True)
    }
