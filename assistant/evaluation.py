"""Does the assistant help retrieval? Original query vs each rephrasing vs their fusion.

Each caption query is searched as itself, as each rephrasing the provider
suggests, with the suggested negatives subtracted, and as the fusion of the
original and its rephrasings (search/fusion.py, as POST /search/ with
`rephrasings` does). Rankings are exact cosine over every collection image with
the active encoder: what the faiss-flat backend returns, without the database.
A rephrasing the provider did not give counts as the original query (the user
would have searched that).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image as PILImage

from assistant.core import ProviderError, parse_suggestions, rephrase_prompt
from evaluation.datasets import Dataset, Query
from evaluation.ranking import first_relevant_rank, rank_summary
from search.config import search_config
from search.fusion import METHODS as FUSION_METHODS
from search.request import Fusion


@dataclass
class AssistRun:
    rows: dict[str, list[int | None]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    failures: int = 0
    empty: int = 0
    examples: list[dict] = field(default_factory=list)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def image_matrix(encoder, dataset: Dataset, batch: int = 16) -> tuple[list[str], np.ndarray]:  # type: ignore[no-untyped-def]
    keys = [item.key for item in dataset.items]
    parts = []
    for start in range(0, len(keys), batch):
        pictures = [
            PILImage.open(dataset.path_of(k)).convert("RGB") for k in keys[start : start + batch]
        ]
        parts.append(encoder.encode_images(pictures))
    return keys, np.concatenate(parts)


def subset(queries: Sequence[Query], n: int | None) -> list[Query]:
    """An evenly spaced subset, the evaluation command's --max-queries rule."""
    text = [q for q in queries if q.kind == "text" and q.text]
    if not n or n >= len(text):
        return text
    return [text[int(i)] for i in np.linspace(0, len(text) - 1, n)]


def evaluate_assist(
    *,
    encoder,  # type: ignore[no-untyped-def]
    provider,  # type: ignore[no-untyped-def]
    dataset: Dataset,
    queries: Sequence[Query],
    k: int,
    max_tokens: int,
    fusion: str = Fusion.LOG_VOTE,
    log: Callable[[str], None] = print,
) -> AssistRun:
    keys, images = image_matrix(encoder, dataset)
    run = AssistRun()
    names = ["original", *[f"rephrasing {i + 1}" for i in range(k)], "original - negatives"]
    names.append(f"fusion ({fusion})")
    run.rows = {name: [] for name in names}
    for n, query in enumerate(queries, start=1):
        text = query.text or ""
        found_text: list[str] = []
        negatives: list[str] = []
        try:
            completion = provider.complete(rephrase_prompt(query=text, k=k), max_tokens=max_tokens)
            found = parse_suggestions(completion.text, query=text, k=k)
            found_text, negatives = found.rephrasings, found.negatives
            run.seconds.append(completion.seconds)
            run.prompt_tokens.append(completion.prompt_tokens)
            run.completion_tokens.append(completion.completion_tokens)
        except ProviderError as exc:
            run.failures += 1
            log(f"  query {n}: provider failed: {exc}")
        run.empty += int(not found_text)
        texts = [text, *found_text]
        vectors = encoder.encode_texts(texts)
        rankings = [[keys[i] for i in np.argsort(-(images @ v), kind="stable")] for v in vectors]
        relevant = query.relevant
        run.rows["original"].append(first_relevant_rank(rankings[0], relevant))
        for i in range(k):
            ranking = rankings[i + 1] if i + 1 < len(rankings) else rankings[0]
            run.rows[f"rephrasing {i + 1}"].append(first_relevant_rank(ranking, relevant))
        vector = vectors[0]
        if negatives:
            negative = encoder.encode_texts([", ".join(negatives)])[0]
            vector = _unit(vector - search_config().negative_weight * negative)  # the API default
        order = np.argsort(-(images @ vector), kind="stable")
        run.rows["original - negatives"].append(
            first_relevant_rank([keys[i] for i in order], relevant)
        )
        fused = [item for item, _ in FUSION_METHODS[fusion](rankings)]
        run.rows[f"fusion ({fusion})"].append(first_relevant_rank(fused, relevant))
        if len(run.examples) < 8:
            run.examples.append({"query": text, "rephrasings": found_text, "negatives": negatives})
        log(
            f"  query {n}/{len(queries)}: {len(found_text)} rephrasings, {len(negatives)} negatives"
        )
    return run


def summary_table(run: AssistRun, *, collection: int) -> list[dict]:
    table = []
    for name, ranks in run.rows.items():
        s = rank_summary(ranks, missing_rank=collection + 1)
        table.append(
            {
                "ranking": name,
                "R@1": round(s.recall[1], 3),
                "R@5": round(s.recall[5], 3),
                "R@10": round(s.recall[10], 3),
                "median rank": s.median_rank,
                "mean rank": round(s.mean_rank, 1),
            }
        )
    return table


def latency(run: AssistRun) -> dict:
    seconds = np.asarray(run.seconds or [0.0])
    return {
        "p50_s": round(float(np.percentile(seconds, 50)), 2),
        "p95_s": round(float(np.percentile(seconds, 95)), 2),
        "mean_prompt_tokens": round(float(np.mean(run.prompt_tokens or [0])), 1),
        "mean_completion_tokens": round(float(np.mean(run.completion_tokens or [0])), 1),
        "failures": run.failures,
        "queries_without_rephrasing": run.empty,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
