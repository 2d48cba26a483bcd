"""gunicorn settings for `manage.py cbir_serve` and the Docker image.

Each worker process warms its encoder and index in a background thread right
after it starts (indexing/warmup.py), so the first search does not pay for
loading weights.

Sizing, from the machine (`cores`: the CPUs this process may run on, so a
container pinned with --cpuset-cpus counts right; a CPU *quota* such as
--cpus is invisible here: set the variables below in that case):

- workers = max(1, min(cores, GiB of RAM // 2, 8)); CBIR_WEB_WORKERS
  overrides. A search is CPU work (the encoder, FAISS, Python): one process
  per core lets every core run it, and separate processes do not share a GIL.
  Each holds its own model and in-memory index (about 1 GB with the bundled
  encoder or ViT-B-32 on the CPU, plus ~2 KB per image), hence one per 2 GiB.
  Beyond 8, add machines behind a load balancer.
- threads = 8 per worker; CBIR_WEB_THREADS overrides. Threads let a slow
  client or a large upload wait without holding a core; the CPU work of the
  requests in flight is bounded by the cores anyway.
- intra-op threads (PyTorch, FAISS, BLAS) = max(1, cores // workers) per
  worker; CBIR_ENCODER_THREADS / OMP_NUM_THREADS override. Left at their
  default (every core), each of W workers x 8 request threads runs an OpenMP
  team as wide as the machine: more busy threads than cores, and a team waits
  at every barrier for its slowest, descheduled member (on 2 shared cores one
  text encoding was seen taking 0.5 s instead of 17 ms). Concurrent requests
  already keep the cores busy; one thread per request is enough.
"""

import os


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _memory_gib() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**30
    except (ValueError, OSError, AttributeError):
        return 16  # unknown: let the cores decide


def _positive(name: str, raw: str | None, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    value = int(raw)  # a typo must stop the server, not silently pick the default
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, not {raw!r}.")
    return value


cores = _cores()
bind = os.environ.get("CBIR_BIND", "127.0.0.1:8000")
workers = _positive(
    "CBIR_WEB_WORKERS",
    os.environ.get("CBIR_WEB_WORKERS"),
    max(1, min(cores, _memory_gib() // 2, 8)),
)
threads = _positive("CBIR_WEB_THREADS", os.environ.get("CBIR_WEB_THREADS"), 8)
timeout = _positive("CBIR_WEB_TIMEOUT_S", os.environ.get("CBIR_WEB_TIMEOUT_S"), 120)
accesslog = "-"
# Uploads can be large: let the request body stream instead of failing early.
limit_request_line = 8190
# Set by gunicorn in the master before it forks the workers (importing this file changes
# nothing): torch reads CBIR_ENCODER_THREADS (indexing/runtime.py), FAISS's and BLAS's OpenMP
# pools read OMP_NUM_THREADS. A value already in the environment is kept.
_share = str(max(1, cores // workers))
raw_env = [
    f"{name}={_share}"
    for name in ("CBIR_ENCODER_THREADS", "OMP_NUM_THREADS")
    if not os.environ.get(name, "").strip()
]


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    from indexing.warmup import warm_in_background

    warm_in_background()
