"""manage.py cbir_index ACTION: index maintenance for the active model.

status              embeddings, statistics, hashing and backend of each model
statistics          recompute every gallery's neighbour statistic now (progress bar)
fit-hashing         fit the semantic-hash thresholds and re-code every embedding
ensure-pgvector     create the model's HNSW index in PostgreSQL (pgvector backend)
rebuild             tell every process to rebuild its in-memory index from pgvector
expansions          recompute collection expansion and hot-image refinement from the judgement
                    log under the current settings (progress bar)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from tqdm import tqdm

from galleries.models import Gallery
from indexing.config import indexing_config
from indexing.feed_control import feed_generation_bump
from indexing.hashing_store import hashing_fit
from indexing.models import Embedding, HashingThresholds
from indexing.runtime import active_model_name
from search.models import GalleryStatistics
from search.statistics import gallery_statistics_update


class Command(BaseCommand):
    help = (
        "Index maintenance: status, statistics, fit-hashing, ensure-pgvector, rebuild, expansions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            choices=[
                "status",
                "statistics",
                "fit-hashing",
                "ensure-pgvector",
                "rebuild",
                "expansions",
            ],
        )
        parser.add_argument("--model", help="Model name (default: the active encoder's)")
        parser.add_argument("--method", choices=["mean", "median"], help="fit-hashing method")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        model = options["model"] or active_model_name()
        action = options["action"].replace("-", "_")
        getattr(self, f"_{action}")(model, options)

    def _status(self, model: str, options: dict) -> None:
        self.stdout.write(f"backend: {indexing_config().index_backend}; active model: {model}")
        rows = Embedding.objects.values("model_name").annotate(n=Count("id")).order_by("model_name")
        for row in rows:
            name = row["model_name"]
            stats = GalleryStatistics.objects.filter(model_name=name)
            hashing = HashingThresholds.objects.filter(model_name=name).first()
            mean = stats.values_list("global_mean", flat=True).first()
            self.stdout.write(
                f"  {name}: {row['n']} embeddings, {stats.count()} gallery statistics"
                + (f" (M = {mean:.4f})" if mean is not None else "")
                + (
                    f", {hashing.method} hashing fitted {hashing.fitted_at:%Y-%m-%d %H:%M}"
                    if hashing
                    else ""
                )
            )

    def _statistics(self, model: str, options: dict) -> None:
        galleries = list(Gallery.objects.values_list("pk", flat=True))
        done = 0
        for gallery_id in tqdm(galleries, unit="gallery", disable=options["no_progress"]):
            done += gallery_statistics_update(gallery_id=gallery_id, model_name=model) is not None
        self.stdout.write(
            self.style.SUCCESS(f"{done} of {len(galleries)} galleries have a statistic.")
        )

    def _fit_hashing(self, model: str, options: dict) -> None:
        row = hashing_fit(model_name=model, method=options["method"])
        if row is None:
            raise CommandError(f"No embeddings of {model} to fit.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{row.method} thresholds fitted on {row.image_count} embeddings; codes updated."
            )
        )

    def _ensure_pgvector(self, model: str, options: dict) -> None:
        from indexing.pgvector_backend import embedding_index_ensure

        dim = Embedding.objects.filter(model_name=model).values_list("dim", flat=True).first()
        if dim is None:
            raise CommandError(f"No embeddings of {model} yet: the index needs their dimension.")
        name = embedding_index_ensure(model, dim)
        self.stdout.write(self.style.SUCCESS(f"HNSW index {name} is in place ({dim} dimensions)."))

    def _rebuild(self, model: str, options: dict) -> None:
        generation = feed_generation_bump()
        self.stdout.write(
            self.style.SUCCESS(f"Every process rebuilds its index (generation {generation}).")
        )

    def _expansions(self, model: str, options: dict) -> None:
        from feedback.tasks import BATCH, images_with_feedback, update_expansions

        if model != active_model_name():
            raise CommandError("expansions are recomputed for the active encoder only.")
        ids = images_with_feedback()
        changed = 0
        with tqdm(total=len(ids), unit="image", disable=options["no_progress"]) as bar:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                changed += update_expansions.run(batch)
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(ids)} images with feedback recomputed from the log; {changed} changed."
            )
        )
