"""`python -m cbir_site.probe [PATH]`: a container health check for the web server.

Asks this host's gunicorn (CBIR_BIND) for /healthz and exits 0 on a 200, 1 otherwise.
The standard library only, Django is never set up: the check runs every few seconds, and the
slim image has no curl. The request names one of DJANGO_ALLOWED_HOSTS as its Host, since
Django answers 400 to any other.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PATH = "/healthz"
TIMEOUT_S = 5


def probe_host(allowed_hosts: str) -> str:
    """A Host header that DJANGO_ALLOWED_HOSTS accepts ("localhost" when any host is)."""
    for entry in allowed_hosts.split(","):
        host = entry.strip().lstrip(".")  # ".example.org" allows example.org itself
        if host and host != "*":
            return host
    return "localhost"


def probe_url(bind: str, path: str) -> str:
    host, _, port = bind.rpartition(":")
    if host in {"", "0.0.0.0", "::", "[::]"}:  # listening everywhere: ask over loopback
        host = "127.0.0.1"
    return f"http://{host}:{port}{path}"


def main(argv: list[str]) -> int:
    path = argv[0] if argv else DEFAULT_PATH
    url = probe_url(os.environ.get("CBIR_BIND", "127.0.0.1:8000"), path)
    host = probe_host(os.environ.get("DJANGO_ALLOWED_HOSTS", ""))
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, timed out: not serving
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
