"""manage.py cbir_import GALLERY PATH: import a folder or zip of images, with a progress bar."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cbir_site.errors import ApplicationError
from galleries import services
from galleries.importing import gallery_import, import_sources
from galleries.models import Gallery


class Command(BaseCommand):
    help = "Import every image in a folder (recursively) or a zip archive into a gallery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("gallery", help="Gallery slug")
        parser.add_argument("path", type=Path, help="Folder or .zip archive")
        parser.add_argument(
            "--user", help="Record this username as the uploader (and owner, with --create)"
        )
        parser.add_argument(
            "--create", action="store_true", help="Create the gallery if it does not exist"
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        user = self._user(options["user"])
        gallery = self._gallery(options["gallery"], user, options["create"])
        try:
            sources = import_sources(options["path"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if not sources:
            raise CommandError(f"No files found in {options['path']}.")

        bar = tqdm(
            total=len(sources), unit="file", disable=options["no_progress"], desc=gallery.slug
        )

        def progress(outcome) -> None:  # type: ignore[no-untyped-def]
            bar.update(1)
            if outcome is not None:
                bar.set_postfix_str(outcome.status, refresh=False)

        report = gallery_import(gallery=gallery, user=user, sources=sources, on_progress=progress)
        bar.close()
        for outcome in report.rejected:
            self.stderr.write(f"rejected {outcome.filename}: {outcome.message}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.counts['created']} imported, {report.counts['duplicate']} duplicates, "
                f"{report.counts['rejected']} rejected, {len(report.skipped)} skipped (not images) "
                f"into '{gallery.slug}'. Embedding runs in the worker."
            )
        )

    def _user(self, username: str | None):  # type: ignore[no-untyped-def]
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        return user

    def _gallery(self, slug: str, user, create: bool) -> Gallery:  # type: ignore[no-untyped-def]
        gallery = Gallery.objects.filter(slug=slug).first()
        if gallery is not None:
            return gallery
        if not create:
            raise CommandError(f"No gallery '{slug}'. Pass --create (with --user as its owner).")
        if user is None:
            raise CommandError("--create needs --user: a gallery needs an owner.")
        return services.gallery_create(user=user, name=slug, slug=slug)
