"""manage.py cbir_models: list, pull, verify, activate, status, prune the encoder models.

list              the known models: size, on this machine, identity, role
pull NAME         download from the Hugging Face hub (or HF_ENDPOINT), resumable, verified
verify [NAME]     check pulled files against the hub's checksums
activate NAME     make NAME the candidate: workers embed the collection with it and search
                  switches once it covers the collection and has statistics and cutoffs
                  (--inline: embed here, with a progress bar, instead of in the workers)
status            the active model, the candidate and its progress per gallery
prune [NAME...]   delete retired models' embeddings, statistics, cutoffs and files
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from galleries.models import Image
from indexing.model_catalogue import catalogue, known_model
from indexing.model_store import ModelPullError, model_verify
from search.model_overview import models_overview, models_status
from search.model_prune import models_prune
from search.model_switch import (
    ModelError,
    candidate_readiness,
    model_activate,
    model_switch_if_ready,
)


class Command(BaseCommand):
    help = "Manage the encoder models: list, pull, verify, activate, status, prune."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Known models, their size and state")
        listing.add_argument("--json", action="store_true")
        pull = sub.add_parser("pull", help="Download a model (resumable, verified)")
        pull.add_argument("name")
        pull.add_argument("--activate", action="store_true", help="Activate it once pulled")
        verify = sub.add_parser("verify", help="Check pulled files against their checksums")
        verify.add_argument("name", nargs="?")
        activate = sub.add_parser("activate", help="Make a model the candidate (then active)")
        activate.add_argument("name")
        activate.add_argument(
            "--inline",
            action="store_true",
            help="Embed the collection in this process (progress bar) rather than in workers",
        )
        status = sub.add_parser("status", help="Active model, candidate and its progress")
        status.add_argument("--json", action="store_true")
        prune = sub.add_parser("prune", help="Delete retired models' rows and files")
        prune.add_argument("names", nargs="*")
        prune.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except (ModelError, KeyError) as exc:
            raise CommandError(str(exc).strip("'\"")) from exc

    # ------------------------------------------------------------ list / status

    def _list(self, options: dict[str, Any]) -> None:
        rows = models_overview()
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2, cls=DjangoJSONEncoder))
            return
        self.stdout.write(f"{'NAME':18} {'SIZE':>9} {'HERE':5} {'ROLE':10} IDENTITY")
        for row in rows:
            size = _size(row["stored_bytes"] or row["download_bytes"])
            mark = " *" if row["recommended"] else ""
            here = "yes" if row["present"] else "no"
            self.stdout.write(
                f"{row['key'] + mark:18} {size:>9} {here:5} {row['role'] or '-':10} "
                f"{row['identity'] or '?'}"
            )
            if row["pull_state"] in ("running", "queued", "failed"):
                self.stdout.write(f"{'':18} pull {row['pull_state']}: {row['pull_message']}")
        self.stdout.write("* recommended. Pull with: manage.py cbir_models pull NAME")

    def _status(self, options: dict[str, Any]) -> None:
        model_switch_if_ready()
        status = models_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2, cls=DjangoJSONEncoder))
            return
        active = status["active"]
        self.stdout.write(
            f"Active: {active['key'] or '(from settings)'} = {active['model_name']}"
            f" (since {active['since'] or 'start'})"
        )
        candidate = status["candidate"]
        if candidate is None:
            self.stdout.write("Candidate: none")
        else:
            self.stdout.write(
                f"Candidate: {candidate['key']} = {candidate['model_name']}: "
                f"{candidate['embedded']}/{candidate['ready_images']} images "
                f"({candidate['coverage']:.1%}), cutoffs {candidate['cutoffs']}"
            )
            if candidate["waiting_for"]:
                self.stdout.write("  waiting for: " + ", ".join(candidate["waiting_for"]))
            for gallery in candidate["galleries"]:
                self.stdout.write(
                    f"  {gallery['gallery']:30} {gallery['embedded']:>7}/{gallery['ready']:<7} "
                    f"{gallery['progress']:.0%}"
                )
        if status["retired"]:
            self.stdout.write(
                "Retired (rollback possible until pruned): " + ", ".join(status["retired"])
            )

    # ------------------------------------------------------------ pull / verify

    def _pull(self, options: dict[str, Any]) -> None:
        from search.model_jobs import model_pull_recorded

        model = known_model(options["name"])
        if not model.downloadable:
            self.stdout.write(f"{model.key} ships with the product: nothing to pull.")
            return
        self.stdout.write(
            f"Pulling {model.key} from {model.repo_id} (~{_size(model.download_bytes)})"
        )
        try:
            result = model_pull_recorded(key=model.key, activate=options["activate"], show_bar=True)
        except ModelPullError as exc:  # pragma: no cover - model_pull_recorded records them
            raise CommandError(str(exc)) from exc
        if result["state"] != "done":
            raise CommandError(result["message"])
        self.stdout.write(
            self.style.SUCCESS(f"{model.key}: {_size(result['bytes'])} pulled, checksums verified")
        )
        if "activate_error" in result:
            raise CommandError(result["activate_error"])
        if result.get("role"):
            self.stdout.write(f"{model.key} is now the {result['role']} model.")

    def _verify(self, options: dict[str, Any]) -> None:
        names = [options["name"]] if options["name"] else list(catalogue())
        bad = 0
        for name in names:
            model = known_model(name)
            checks = model_verify(model)
            if not options["name"] and not any(c.ok for c in checks):
                continue  # not here: listing every absent model is noise
            for check in checks:
                bad += not check.ok
                mark = "ok" if check.ok else "FAILED"
                self.stdout.write(f"{model.key:18} {check.name:34} {mark:6} {check.detail}")
        if bad:
            raise CommandError(
                f"{bad} files failed verification (checksum or missing): pull the model again."
            )

    # ------------------------------------------------------------ activate / prune

    def _activate(self, options: dict[str, Any]) -> None:
        row = model_activate(key=options["name"])
        if row.role == "active":
            self.stdout.write(f"{row.key} is the active model; any candidate was cancelled.")
            return
        if not options["inline"]:
            self.stdout.write(
                f"{row.key} is the candidate: the workers embed the collection with it; search "
                "switches once it covers the collection and has its statistics and cutoffs "
                "(follow with: manage.py cbir_models status)."
            )
            return
        self._catch_up_inline(row.key)

    def _catch_up_inline(self, key: str) -> None:
        from tqdm import tqdm

        from indexing.embedding import images_embed
        from indexing.model_models import ManagedModel
        from indexing.runtime import get_candidate_encoder, model_selection
        from search.cutoff_fit import collection_fit_due, cutoffs_fit_from_collection
        from search.statistics import gallery_statistics_update

        model_selection(fresh=True)
        row = ManagedModel.objects.get(key=key)
        encoder = get_candidate_encoder()
        readiness = candidate_readiness(row)
        todo = readiness.ready_images - readiness.covered
        started = time.perf_counter()

        with tqdm(total=todo, desc=f"embedding with {key}", unit="img", disable=not todo) as bar:
            while True:
                ids = list(
                    Image.objects.filter(status=Image.Status.READY)
                    .exclude(embeddings__model_name=row.model_name)
                    .order_by("id")
                    .values_list("id", flat=True)[:64]
                )
                if not ids:
                    break
                report = images_embed(image_ids=ids, encoder=encoder, secondary=True)
                bar.update(len(ids))
                if not report.embedded and not report.skipped:
                    raise CommandError(f"The candidate could not embed images {ids}.")
        elapsed = time.perf_counter() - started
        gallery_ids = Image.objects.filter(status=Image.Status.READY).values_list(
            "gallery_id", flat=True
        )
        for gallery_id in sorted(set(gallery_ids)):
            gallery_statistics_update(gallery_id=gallery_id, model_name=row.model_name)
        if collection_fit_due(model_name=row.model_name):
            cutoffs_fit_from_collection(model_name=row.model_name)
        rate = todo / elapsed if elapsed > 0 and todo else 0.0
        self.stdout.write(f"Embedded {todo} images in {elapsed:.1f} s ({rate:.1f} images/s)")
        switched = model_switch_if_ready()
        if switched is not None:
            self.stdout.write(self.style.SUCCESS(f"Search now uses {switched.key}."))
        else:
            row.refresh_from_db()
            self.stdout.write(f"{key} stays the candidate: {row.switch_note}")

    def _prune(self, options: dict[str, Any]) -> None:
        names = options["names"] or None
        if not options["yes"]:
            target = ", ".join(names) if names else "every retired model"
            answer = input(f"Delete the embeddings, statistics and files of {target}? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                self.stdout.write("Nothing pruned.")
                return
        reports = models_prune(keys=names)
        if not reports:
            self.stdout.write("Nothing to prune.")
        for report in reports:
            self.stdout.write(
                f"{report.model_name}: {report.embeddings} embeddings, {report.statistics} "
                f"statistics, {report.calibrations} cutoff fits, {report.overrides} overrides, "
                f"{_size(report.file_bytes)} of files removed"
            )


def _size(n: float | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
