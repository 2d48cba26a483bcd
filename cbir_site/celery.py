"""The Celery application: configuration comes from Django settings (CELERY_*)."""

import logging
import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbir_site.settings")

app = Celery("cbir")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _lower_priority(**_: object) -> None:
    """Run the worker (and the pool children it forks) at CBIR_WORKER_NICE.

    Embedding is background work: on CPUs shared with the web server, a search should not
    wait behind it. The children inherit the niceness of the main process.
    """
    from django.conf import settings

    wanted = settings.CBIR_WORKER_NICE
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if wanted > current:
        os.nice(wanted - current)
        logging.getLogger(__name__).info("Worker running at niceness %s", wanted)
