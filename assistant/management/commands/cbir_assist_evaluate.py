"""manage.py cbir_assist_evaluate PATH: the query assistant on COCO captions (PATH = COCO root).

    manage.py cbir_assist_evaluate /data/coco-mini --provider bundled --max-queries 30

Needs no database: images and texts go through the active encoder in memory
(assistant/evaluation.py). Writes report.json and report.md under --out.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.evaluation import evaluate_assist, latency, subset, summary_table
from assistant.providers import assistant_config, get_provider
from evaluation.datasets import DatasetError, coco_captions
from indexing.runtime import get_encoder
from search.request import Fusion, values


class Command(BaseCommand):
    help = "Measure the query assistant's rephrasings on COCO captions (R@K, latency, tokens)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="COCO root: annotations/ and val2017/")
        parser.add_argument("--provider", choices=["bundled", "openai"], default="bundled")
        parser.add_argument("--max-queries", type=int, default=60)
        parser.add_argument("--k", type=int, default=3, help="rephrasings per query")
        parser.add_argument("--max-tokens", type=int, default=64)
        parser.add_argument("--fusion", choices=values(Fusion), default=Fusion.LOG_VOTE.value)
        parser.add_argument("--out", type=Path, default=Path("docs/evaluation/assistant"))

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            dataset = coco_captions(options["path"], splits=("val2017",))
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        config = replace(assistant_config(), provider=options["provider"])
        provider = get_provider(config)
        encoder = get_encoder()
        queries = subset(dataset.queries, options["max_queries"])
        self.stdout.write(
            f"{len(queries)} of {len(dataset.queries)} caption queries, {len(dataset.items)} "
            f"images, encoder {encoder.name}, provider {provider.name} ({provider.model_name})"
        )
        run = evaluate_assist(
            encoder=encoder,
            provider=provider,
            dataset=dataset,
            queries=queries,
            k=options["k"],
            max_tokens=options["max_tokens"],
            fusion=options["fusion"],
            log=self.stdout.write,
        )
        report = {
            "dataset": f"{dataset.name} val2017",
            "images": len(dataset.items),
            "queries": len(queries),
            "queries_in_dataset": len(dataset.queries),
            "encoder": encoder.name,
            "provider": provider.name,
            "model": provider.model_name,
            "k": options["k"],
            "max_tokens": options["max_tokens"],
            "timeout_s": config.timeout_s,
            "table": summary_table(run, collection=len(dataset.items)),
            "latency": latency(run),
            "examples": run.examples,
        }
        out = options["out"] / provider.name
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "report.md").write_text(_markdown(report))
        self.stdout.write(self.style.SUCCESS(f"Report in {out}"))


def _markdown(report: dict) -> str:
    lines = [
        f"# Query assistant on {report['dataset']}: {report['provider']} ({report['model']})",
        "",
        f"{report['queries']} of {report['queries_in_dataset']} caption queries (evenly spaced), "
        f"{report['images']} images, encoder `{report['encoder']}`, {report['k']} rephrasings "
        f"asked per query, at most {report['max_tokens']} new tokens, timeout "
        f"{report['timeout_s']} s.",
        "",
        "| ranking | R@1 | R@5 | R@10 | median rank | mean rank |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["table"]:
        lines.append(
            f"| {row['ranking']} | {row['R@1']} | {row['R@5']} | {row['R@10']} | "
            f"{row['median rank']} | {row['mean rank']} |"
        )
    lat = report["latency"]
    lines += [
        "",
        f"Latency per query: p50 {lat['p50_s']} s, p95 {lat['p95_s']} s; tokens per query: "
        f"{lat['mean_prompt_tokens']} prompt, {lat['mean_completion_tokens']} generated; "
        f"{lat['failures']} provider failures, {lat['queries_without_rephrasing']} queries "
        f"with no usable rephrasing. Measured {lat['measured_at']}.",
        "",
        "## Examples (parsed output, as the user would see it)",
        "",
    ]
    for ex in report["examples"]:
        lines.append(
            f"- **{ex['query']}** → {' | '.join(ex['rephrasings']) or '(none)'}"
            f"; not: {', '.join(ex['negatives']) or '(none)'}"
        )
    return "\n".join(lines) + "\n"
