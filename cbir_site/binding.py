"""Where the web server listens, and what that allows: DEBUG only on loopback.

Django's DEBUG pages list every URL pattern and print tracebacks with local
variables. They are for the developer at this machine: settings.py turns DEBUG
off, and `cbir_serve` passes DJANGO_DEBUG=0 to its children, whenever the bind
address (CBIR_BIND, gunicorn's --bind syntax) reaches beyond loopback. Standard
library only: settings.py imports this module.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
WILDCARDS = {"", "0.0.0.0", "::", "*"}


def bind_hosts(bind: str) -> list[str]:
    """The host part of each address in `bind` ("127.0.0.1:8000", "[::1]:8000", "unix:/s").

    A unix socket gives "unix:": it is local, but whatever proxies it may not be.
    """
    hosts = []
    for address in bind.replace(",", " ").split():
        if address.startswith(("unix:", "fd://")):
            hosts.append("unix:")
            continue
        address = address.removeprefix("tcp://")
        if address.startswith("["):  # [IPv6]:port
            hosts.append(address[1:].split("]", 1)[0])
        elif address.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
            hosts.append(address.split(":", 1)[0])
        else:
            hosts.append(address)
    return hosts


def is_loopback_host(host: str) -> bool:
    host = host.strip().lower().rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name may resolve anywhere; a unix socket may sit behind a proxy
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def bind_is_loopback(bind: str) -> bool:
    """True when every address in `bind` is a loopback address (and there is one)."""
    hosts = bind_hosts(bind)
    return bool(hosts) and all(is_loopback_host(h) for h in hosts)


def allowed_hosts_for(bind: str) -> list[str]:
    """Host names a development server bound to `bind` must accept, besides loopback's.

    A specific address or name is accepted as itself. A wildcard bind (0.0.0.0, ::) means
    "reach me by any of this machine's names", which no list can know in advance: "*".
    Production never uses this (DJANGO_ALLOWED_HOSTS is required there).
    """
    extra = []
    for host in bind_hosts(bind):
        if host in WILDCARDS:
            return ["*"]
        if host != "unix:" and not is_loopback_host(host):
            extra.append(f"[{host}]" if ":" in host else host)
    return extra


def debug_environment(bind: str, environ: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """The children's environment for `bind`, and a line to print when DEBUG was forced off."""
    env = {**environ, "CBIR_BIND": bind}
    if bind_is_loopback(bind):
        return env, None
    env["DJANGO_DEBUG"] = "0"
    return env, f"Listening beyond loopback ({bind}): DEBUG is off (DJANGO_DEBUG=0)."
