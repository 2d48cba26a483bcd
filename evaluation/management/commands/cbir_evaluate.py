"""manage.py cbir_evaluate KIND PATH: retrieval-quality evaluation on a separate *_eval database.

    manage.py cbir_evaluate coco /data/coco-mini --retrieval --feedback --composed
    manage.py cbir_evaluate folder /data/pacs --thresholds --encoders bundled,open_clip
    manage.py cbir_evaluate roxford gnd_roxford5k.pkl --images jpg/ --protocol hard

Unless the configured database's name ends in `_eval`, the command first
re-executes itself on one (see evaluation/isolation.py), then
migrates it. The work lives in evaluation/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.datasets import DatasetError, DatasetSpec
from evaluation.datasets_images import CLASS_TEXT_TEMPLATES
from evaluation.experiments import EXPERIMENTS
from evaluation.experiments.common import Options
from evaluation.isolation import (
    REEXEC_MARK,
    ensure_database,
    evaluation_environment,
    is_evaluation_database,
)


def database_name() -> str:
    return str(settings.DATABASES["default"].get("NAME") or "")


class Command(BaseCommand):
    help = "Evaluate retrieval quality on a dataset (in a separate *_eval database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=["coco", "karpathy", "folder", "roxford", "csv"])
        parser.add_argument("path", type=Path, help="dataset root, JSON, pickle or CSV")
        parser.add_argument("--images", type=Path, help="image folder (karpathy, roxford, csv)")
        parser.add_argument("--splits", default="", help="comma-separated (coco: val2017)")
        parser.add_argument("--labels", type=Path, help="folder: 'filename label' lines")
        parser.add_argument("--protocol", default="medium", choices=["easy", "medium", "hard"])
        parser.add_argument("--name", default="", help="dataset name in reports and gallery slugs")
        parser.add_argument(
            "--class-text",
            nargs="?",
            const=";".join(CLASS_TEXT_TEMPLATES),
            default="",
            metavar="TEMPLATES",
            help="folder: a text query per class and template, ';'-separated, {} = the class "
            f"name (alone: {';'.join(CLASS_TEXT_TEMPLATES)!r})",
        )
        for experiment in EXPERIMENTS.values():
            parser.add_argument(f"--{experiment.name}", action="store_true", help=experiment.help)
        parser.add_argument("--encoders", default="", help="e.g. bundled,open_clip,random-floor")
        parser.add_argument("--random-floor", action="store_true", help="add a random ViT-B-32")
        parser.add_argument("--work-dir", type=Path, default=Path(".cbir/evaluation"))
        parser.add_argument(
            "--out", type=Path, help="default CBIR_DATA_DIR/evaluation/reports/<dataset>-<encoder>"
        )
        parser.add_argument("--max-queries", type=int, help="evenly spaced subset of the queries")
        parser.add_argument("--positives", default="3,5", help="feedback: P values")
        parser.add_argument("--breaking-ranks", default="1,5,10", help="feedback: b values")
        parser.add_argument("--iterations", type=int, default=2, help="feedback iterations")
        parser.add_argument("--batch-size", type=int, default=32, help="images per embed batch")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        work_dir = options["work_dir"].resolve()
        if not is_evaluation_database(database_name()):
            self._reexec(work_dir)  # does not return
        call_command("migrate", verbosity=0)
        from evaluation.runner import EvaluationConfig, run_evaluation

        config = EvaluationConfig(
            dataset=DatasetSpec(
                kind=options["kind"],
                path=options["path"],
                images=options["images"],
                splits=_names(options["splits"]),
                labels=options["labels"],
                protocol=options["protocol"],
                name=options["name"],
                text_templates=_templates(options["class_text"]),
            ),
            experiments=tuple(n for n in EXPERIMENTS if options[n]) or ("retrieval",),
            encoders=_names(options["encoders"]),
            random_floor=options["random_floor"],
            work_dir=work_dir,
            out_dir=options["out"],
            max_queries=options["max_queries"],
            options=Options(
                positives=tuple(int(v) for v in _names(options["positives"])),
                breaking_ranks=tuple(int(v) for v in _names(options["breaking_ranks"])),
                iterations=options["iterations"],
            ),
            batch_size=options["batch_size"],
            progress=not options["no_progress"],
        )
        self.stdout.write(f"Evaluating on database {database_name()!r}, work dir {work_dir}")
        try:
            result = run_evaluation(config, log=self.stdout.write)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Reports in {result.out_dir}"))

    def _reexec(self, work_dir: Path) -> None:
        if os.environ.get(REEXEC_MARK):
            raise CommandError(
                f"Re-executed for the evaluation database, but it is {database_name()!r}: "
                "DATABASE_URL must name a database ending in _eval (or be unset)."
            )
        if "cbir_evaluate" not in sys.argv[1:]:
            raise CommandError(
                "cbir_evaluate switches to its own *_eval database by re-running itself: run it "
                "from the command line (manage.py cbir_evaluate ...), or configure a database "
                "whose name ends in _eval."
            )
        env = evaluation_environment(os.environ, work_dir)
        url = os.environ.get("DATABASE_URL")
        if url and ensure_database(env["DATABASE_URL"], via=url):
            self.stdout.write("Created the evaluation database.")
        self.stdout.write(
            f"Database {database_name()!r} is not an evaluation database: re-running on "
            f"{env.get('CBIR_EMBEDDED_DB_NAME') or 'DATABASE_URL + _eval'} "
            f"with media in {env['CBIR_MEDIA_ROOT']}."
        )
        self.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _templates(value: str) -> tuple[str, ...]:
    templates = tuple(t.strip() for t in value.split(";") if t.strip())
    bad = [t for t in templates if "{}" not in t]
    if bad:
        raise CommandError(f"--class-text templates need a {{}} for the class name: {bad}.")
    return templates
