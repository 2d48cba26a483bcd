"""manage.py cbir_serve: the whole product in one process tree.

Migrates, seeds the demo (development only, unless --no-demo), then runs the
web server (gunicorn) and a separate Celery worker process (with the beat
scheduler for the periodic sweep) until interrupted. If either child exits,
the other is stopped and the command exits with an error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from cbir_site.binding import debug_environment


class Command(BaseCommand):
    help = "Run the web server and a Celery worker (embedded defaults: no services to install)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("CBIR_BIND", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="Do not seed the demo data")
        parser.add_argument("--no-worker", action="store_true", help="Web server only")
        parser.add_argument("--concurrency", type=int, default=1, help="Worker processes")
        parser.add_argument(
            "--offline",
            action="store_true",
            help="Do not download the recommended model (air-gapped machines; see also "
            "HF_HUB_OFFLINE and CBIR_MODEL_AUTO_PULL)",
        )

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_demo"] and not settings.PRODUCTION:
            call_command("cbir_demo", quiet_if_present=False)
        # DEBUG only on loopback (cbir_site/binding.py); settings enforce it too.
        env, note = debug_environment(options["bind"], os.environ)
        if note:
            self.stdout.write(note)
        plan = self._model_plan(options["offline"])
        children: list[subprocess.Popen] = []
        if not options["no_worker"]:
            children.append(subprocess.Popen(self._worker_cmd(options["concurrency"]), env=env))
        children.append(subprocess.Popen(self._web_cmd(), env=env))
        self.stdout.write(
            self.style.SUCCESS(f"Serving on http://{options['bind']}/ (Ctrl-C stops)")
        )
        pull = None
        if plan is not None and plan.pull:
            # After the server is up: it serves on what is here while the download runs.
            pull = subprocess.Popen(self._pull_cmd(plan.key), env=env)
        self._pull = pull
        self._supervise(children)

    def _model_plan(self, offline: bool):  # type: ignore[no-untyped-def]
        """Decide about the recommended model in seconds; one console line either way."""
        from search.model_bootstrap import bootstrap_plan, settings_model_follow

        try:
            followed = settings_model_follow()
            if followed:
                self.stdout.write(followed)
            plan = bootstrap_plan(offline=offline)
        except Exception as exc:  # never keep the product from starting
            self.stdout.write(f"Models: skipped ({type(exc).__name__}: {exc})")
            return None
        self.stdout.write(plan.message)
        return plan

    def _pull_cmd(self, key: str) -> list[str]:
        manage = str(settings.BASE_DIR / "manage.py")
        return [sys.executable, manage, "cbir_models", "pull", key, "--activate"]

    def _worker_cmd(self, concurrency: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cbir_site",
            "worker",
            "--beat",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--prefetch-multiplier=1",
            f"--queues={','.join(settings.CBIR_WORKER_QUEUES)}",  # embedding and maintenance
            f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
        ]

    def _web_cmd(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "cbir_site.wsgi:application",
            "--config",
            "python:cbir_site.gunicorn_conf",
        ]

    def _supervise(self, children: list[subprocess.Popen]) -> None:
        """Run until a child exits or a signal; report the background model pull's end once."""
        pull: subprocess.Popen | None = getattr(self, "_pull", None)
        stopping = False

        def stop(signum, frame):  # type: ignore[no-untyped-def]
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failed = None
        while not stopping and failed is None:
            time.sleep(0.5)
            failed = next((c for c in children if c.poll() is not None), None)
            if pull is not None and pull.poll() is not None:  # said once, then forgotten
                if pull.returncode == 0:
                    self.stdout.write("Models: pull finished; search switches once it is ready.")
                else:
                    self.stdout.write(
                        "Models: the pull failed (above); search stays on the current model. "
                        "Retry: ./cbir manage cbir_models pull NAME"
                    )
                pull = None
        if pull is not None and pull.poll() is None:
            pull.send_signal(signal.SIGTERM)  # the partial file stays: the next pull resumes
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
        if failed is not None and not stopping:
            command = failed.args if isinstance(failed.args, list) else [failed.args]
            raise SystemExit(f"{command[2:5]} exited with status {failed.returncode}")
