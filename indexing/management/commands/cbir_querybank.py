"""manage.py cbir_querybank: fill the query-bank statistics of the active model's embeddings."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from indexing.encoders.base import EncoderUnavailable
from indexing.querybank_store import query_bank, querybank_backfill, querybank_missing
from indexing.runtime import get_encoder


class Command(BaseCommand):
    help = (
        "Compute each stored embedding's mean and spread of similarity to the query bank "
        "(indexing/querybank/generic_captions.txt), used by text-query cutoffs (CBIR_TEXT_CUTOFF="
        "qbnorm). Rows stored before, or under another bank, are filled; the rest are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            encoder = get_encoder()
        except EncoderUnavailable as exc:
            raise CommandError(str(exc)) from exc
        missing = querybank_missing(model_name=encoder.name, key=query_bank(encoder).key)
        with tqdm(total=missing, unit="embedding", disable=not missing) as bar:
            written = querybank_backfill(
                encoder=encoder, batch_size=options["batch_size"], on_progress=bar.update
            )
        done = f"{written} embeddings of {encoder.name} given query-bank statistics."
        self.stdout.write(self.style.SUCCESS(done))
