"""Pseudo-relevance feedback over iterations (the source 002, section 3.4, Tables 1-2).

Each query opens a search session (search_session_start) and is refined with
search_session_refine(pseudo_positives=P): Rocchio on the current query with
the top P results as relevant. With a breaking rank b, only queries whose
relevant image is not within the top b at the current iteration are refined;
the others keep their result.

The refinement chain of a query (iteration 0, refine once, refine twice)
does not depend on b: b only decides where a query stops. So each query is
refined at most `iterations` times per P, through one session, and every
b is read off the same chain.
"""

from __future__ import annotations

from typing import Any

from evaluation.datasets import Query
from evaluation.experiments.common import RANK_COLUMNS, Context, Options, rank_row
from evaluation.ranking import first_relevant_rank, rank_summary, without_junk
from evaluation.report import Plot, Section, Series, Table
from feedback.models import SearchSession
from feedback.services import search_session_refine, search_session_start
from search.request import Mode, SearchRequest


def run(ctx: Context) -> Section:
    options = ctx.options
    SearchSession.objects.filter(user=ctx.loaded.user).delete()  # earlier runs' sessions
    section = Section(name="feedback", title="Iterative retrieval with pseudo-relevance feedback")
    rows: list[list[Any]] = []
    data: dict[str, Any] = {"options": options, "configs": []}
    for kind in ctx.kinds():
        queries = ctx.queries(kind)
        for positives in options.positives:
            chains = [
                _chain(ctx, q, positives) for q in ctx.bar(queries, f"feedback P={positives}")
            ]
            curves = []
            for breaking in options.breaking_ranks:
                for iteration, (ranks, refined) in enumerate(
                    _iterations(chains, breaking, options)
                ):
                    summary = rank_summary(
                        ranks, missing_rank=ctx.collection_size + 1, curve_to=min(100, ctx.k)
                    )
                    rows.append([kind, iteration, positives, breaking, refined, *rank_row(summary)])
                    data["configs"].append(
                        {
                            "kind": kind,
                            "iteration": iteration,
                            "positives": positives,
                            "breaking_rank": breaking,
                            "refined": refined,
                            "ranks": summary,
                        }
                    )
                    if iteration == 0 and breaking != options.breaking_ranks[0]:
                        continue  # iteration 0 is the same for every b: one curve
                    label = (
                        "iteration 0" if iteration == 0 else f"b={breaking}, iteration {iteration}"
                    )
                    curves.append(
                        Series(label, list(range(1, len(summary.curve) + 1)), summary.curve)
                    )
            section.plots.append(
                Plot(
                    filename=f"feedback-{kind}-p{positives}.png",
                    title=f"Pseudo-relevance feedback, P = {positives}: Recall@K",
                    xlabel="K",
                    ylabel="Recall@K",
                    series=curves,
                    log_x=True,
                )
            )
    section.tables.append(
        Table(
            title="Recall@K and ranks per iteration (P: top results taken as relevant; "
            "b: breaking rank)",
            columns=["Queries", "Iteration", "P", "b", "Refined", *RANK_COLUMNS],
            rows=rows,
            notes=[
                "Refined: queries refined at that iteration (relevant image not within the top b); "
                "the others keep their previous result. Rocchio weights: "
                f"{_rocchio_note()}. A relevant image not returned counts as rank N + 1.",
            ],
        )
    )
    section.notes.append(_verdict(data["configs"]))
    section.data = data
    return section


def _chain(ctx: Context, query: Query, positives: int) -> list[int | None]:
    """First-relevant rank at iteration 0, 1, ... (stopping once no breaking rank needs more)."""
    relevant, junk = ctx.relevant(query), ctx.junk(query)
    session, _iteration, result = search_session_start(
        user=ctx.loaded.user,
        request=SearchRequest(
            gallery_slugs=ctx.loaded.slugs, k=ctx.k, mode=Mode.TOPK, **ctx.request(query)
        ),
    )
    ranks = [_rank(result.ranked, relevant, junk)]
    smallest = min(ctx.options.breaking_ranks)
    for _ in range(ctx.options.iterations):
        if ranks[-1] is not None and ranks[-1] <= smallest:
            break  # within every breaking rank: no configuration refines it further
        _iteration, result = search_session_refine(
            session=session, user=ctx.loaded.user, pseudo_positives=positives
        )
        ranks.append(_rank(result.ranked, relevant, junk))
    return ranks


def _rank(ranked: list[tuple[int, float]], relevant: set[int], junk: set[int]) -> int | None:
    return first_relevant_rank(without_junk([i for i, _ in ranked], junk), relevant)


def _iterations(
    chains: list[list[int | None]], breaking: int, options: Options
) -> list[tuple[list[int | None], int]]:
    """Per iteration: each query's rank under breaking rank b, and how many were refined."""
    position = [0] * len(chains)
    out = []
    for iteration in range(options.iterations + 1):
        refined = 0
        if iteration > 0:
            for n, chain in enumerate(chains):
                rank = chain[position[n]]
                if (rank is None or rank > breaking) and position[n] + 1 < len(chain):
                    position[n] += 1
                    refined += 1
        out.append(([chain[position[n]] for n, chain in enumerate(chains)], refined))
    return out


def _rocchio_note() -> str:
    from feedback.services import rocchio_defaults

    p = rocchio_defaults()
    return f"α = {p.alpha}, β = {p.beta}, γ = {p.gamma} (pseudo-negatives off)"


def _verdict(configs: list[dict[str, Any]]) -> str:
    """A plain sentence on where refinement helped and where it hurt (vs iteration 0)."""
    base = {c["kind"]: c["ranks"] for c in configs if c["iteration"] == 0}
    lines = []
    for c in configs:
        if c["iteration"] == 0:
            continue
        b = base[c["kind"]]
        delta = {k: c["ranks"].recall[k] - b.recall[k] for k in (1, 5, 10)}
        worse = [f"R@{k} {d:+.3f}" for k, d in delta.items() if d < -1e-9]
        if c["ranks"].mean_rank > b.mean_rank + 1e-9:
            worse.append(f"mean rank {c['ranks'].mean_rank - b.mean_rank:+.1f}")
        if worse:
            lines.append(
                f"P={c['positives']}, b={c['breaking_rank']}, iteration {c['iteration']}: "
                + ", ".join(worse)
            )
    if not lines:
        return "Refinement did not lower any figure against iteration 0 here."
    return "Where refinement hurt (against iteration 0): " + "; ".join(lines) + "."
