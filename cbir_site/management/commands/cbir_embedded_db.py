"""manage.py cbir_embedded_db {start,stop,status,uri}: the embedded PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cbir_site import embedded_pg


class Command(BaseCommand):
    help = "Start, stop or locate the embedded PostgreSQL (used when DATABASE_URL is not set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status", "uri"])

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        db = settings.DATABASES["default"]
        if "EMBEDDED_DATA_DIR" not in db:
            raise CommandError("DATABASE_URL is set: the embedded PostgreSQL is not in use.")
        data_dir = Path(db["EMBEDDED_DATA_DIR"])
        action = options["action"]
        if action == "stop":
            stopped = embedded_pg.stop(data_dir)
            self.stdout.write("stopped" if stopped else "not running")
            return
        if action == "status":
            running = embedded_pg.is_running(data_dir)
            self.stdout.write(f"{'running' if running else 'stopped'} ({data_dir})")
            return
        server = embedded_pg.ensure_running(data_dir)
        embedded_pg.ensure_database(server, db["NAME"])
        self.stdout.write(server.uri(db["NAME"]) if action == "uri" else f"running ({data_dir})")
