"""The Celery application: configuration comes from Django settings (CELERY_*)."""

import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbir_site.settings")

app = Celery("cbir")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _broker_folders(source: Any, **_: object) -> None:
    """The filesystem broker's folders (the demo's broker), made when Celery first reads its
    configuration (a worker starting, the first task sent), not when settings are imported."""
    options = source.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_init.connect
def _lower_priority(**_: object) -> None:
    """Run the worker (and the pool children it forks) at CBIR_WORKER_NICE.

    Embedding is background work: on CPUs shared with the web server, a search should not
    wait behind it. The children inherit the niceness of the main process.
    """
    from cbir_site.config import site_config

    wanted = site_config().worker_nice
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if wanted > current:
        os.nice(wanted - current)
        logging.getLogger(__name__).info("Worker running at niceness %s", wanted)
