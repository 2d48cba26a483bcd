"""manage.py cbir_reembed: queue images the active model has not embedded yet."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from galleries.models import Image
from indexing.embedding import embedding_enqueue
from indexing.runtime import active_model_name


class Command(BaseCommand):
    help = "Queue embedding for every image (or one gallery's) missing the active model's vector."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--gallery", help="Only this gallery (slug)")
        parser.add_argument("--failed", action="store_true", help="Also retry images marked failed")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        model = active_model_name()
        images = Image.objects.exclude(embeddings__model_name=model)
        if options["gallery"]:
            images = images.filter(gallery__slug=options["gallery"])
        if options["failed"]:
            images.filter(status=Image.Status.FAILED).update(
                status=Image.Status.PENDING, attempts=0
            )
        else:
            images = images.exclude(status=Image.Status.FAILED)
        ids = list(images.values_list("id", flat=True))
        step = 1000
        for start in tqdm(range(0, len(ids), step), unit="batch", disable=not ids):
            embedding_enqueue(ids[start : start + step])
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(ids)} image{'s' if len(ids) != 1 else ''} queued for {model}."
            )
        )
