"""gunicorn settings for `manage.py cbir_serve` and the Docker image.

Each worker process warms its encoder and index in a background thread right
after it starts, so the first search does not pay for loading weights.
"""

import os

bind = os.environ.get("CBIR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CBIR_WEB_WORKERS", "1"))
threads = int(os.environ.get("CBIR_WEB_THREADS", "4"))
timeout = int(os.environ.get("CBIR_WEB_TIMEOUT_S", "120"))
accesslog = "-"
# Uploads can be large: let the request body stream instead of failing early.
limit_request_line = 8190


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    from search.warmup import warm_in_background

    warm_in_background()
