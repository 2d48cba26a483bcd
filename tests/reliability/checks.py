"""What must hold after a failure, checked with SQL and on disk.

`audit` compares the client's view (the uploads it was told were stored)
with the database and the media folder; `wait_converged` waits for pending
work to finish; `index_matches_database` asks the web process's search for
every image and compares the ids with pgvector's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.client import Api
from tests.reliability.stack import Stack, wait_until

MODEL = "fake:colour-v1"  # CBIR_ENCODER=fake


@dataclass
class Audit:
    accepted: int
    rows: int
    missing_rows: list[int] = field(default_factory=list)  # accepted, but no row
    extra_rows: list[int] = field(default_factory=list)  # a row no reply told the client of
    missing_files: list[int] = field(default_factory=list)  # a row whose file/thumbnail is gone
    not_ready: dict[int, str] = field(default_factory=dict)
    embeddings_not_one: dict[int, int] = field(default_factory=dict)  # id -> embeddings count
    orphan_files: list[str] = field(default_factory=list)  # on disk, no row
    pending_uploads: int = 0  # intent rows left (the janitor should have removed them)
    max_attempts: int = 0
    retried_images: int = 0  # embedded more than once: a batch was interrupted after claiming it

    @property
    def problems(self) -> dict[str, object]:
        found = {
            "missing_rows": self.missing_rows,
            "extra_rows": self.extra_rows,
            "missing_files": self.missing_files,
            "not_ready": self.not_ready,
            "embeddings_not_one": self.embeddings_not_one,
            "orphan_files": self.orphan_files,
            "pending_uploads": self.pending_uploads,
        }
        return {k: v for k, v in found.items() if v}

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "rows": self.rows,
            "max_attempts": self.max_attempts,
            "retried_images": self.retried_images,
            "problems": {k: _short(v) for k, v in self.problems.items()},
        }


def audit(stack: Stack, *, gallery_id: int, accepted: Iterable[int]) -> Audit:
    accepted = set(accepted)
    rows = stack.sql(
        "SELECT id, file, thumbnail, status, attempts FROM galleries_image WHERE gallery_id = %s",
        (gallery_id,),
    )
    ids = {r[0] for r in rows}
    counts = dict(
        stack.sql(
            "SELECT i.id, count(e.id) FROM galleries_image i LEFT JOIN search_embedding e "
            "ON e.image_id = i.id AND e.model_name = %s WHERE i.gallery_id = %s GROUP BY i.id",
            (MODEL, gallery_id),
        )
    )
    referenced = {p for r in rows for p in (r[1], r[2]) if p}
    result = Audit(accepted=len(accepted), rows=len(rows))
    result.missing_rows = sorted(accepted - ids)
    result.extra_rows = sorted(ids - accepted)
    result.missing_files = sorted(
        r[0] for r in rows if not r[1] or not r[2] or not all(_exists(stack, p) for p in r[1:3])
    )
    result.not_ready = {r[0]: r[3] for r in rows if r[3] != "ready"}
    result.embeddings_not_one = {i: n for i, n in counts.items() if n != 1}
    result.orphan_files = sorted(stored_files(stack, gallery_id) - referenced)
    result.pending_uploads = stack.sql("SELECT count(*) FROM galleries_pendingupload")[0][0]
    result.max_attempts = max((r[4] for r in rows), default=0)
    result.retried_images = sum(r[4] > 1 for r in rows)
    return result


def stored_files(stack: Stack, gallery_id: int) -> set[str]:
    """Paths (relative to the media root, as the rows store them) of the gallery's files."""
    folder = stack.media / "images" / str(gallery_id)
    if not folder.exists():
        return set()
    return {str(p.relative_to(stack.media)) for p in folder.rglob("*") if p.is_file()}


def _exists(stack: Stack, relative: str) -> bool:
    return (stack.media / Path(relative)).is_file()


def pending_work(stack: Stack, gallery_id: int) -> int:
    """Images still to be embedded: pending, or ready without exactly one embedding.
    (Failed images are final: the audit reports them.)"""
    return stack.sql(
        "SELECT count(*) FROM galleries_image i WHERE i.gallery_id = %s AND (i.status = 'pending' "
        "OR (i.status = 'ready' AND (SELECT count(*) FROM search_embedding e "
        "WHERE e.image_id = i.id AND e.model_name = %s) <> 1))",
        (gallery_id, MODEL),
    )[0][0]


def wait_converged(stack: Stack, gallery_id: int, *, timeout: float = 90) -> float:
    """Wait until no image of the gallery is left to embed; return how long that took."""
    started = time.monotonic()
    wait_until(
        lambda: pending_work(stack, gallery_id) == 0,
        timeout=timeout,
        what="every image to be embedded",
        interval=0.5,
    )
    return round(time.monotonic() - started, 1)


def index_matches_database(stack: Stack, api: Api, *, timeout: float = 30) -> dict[str, object]:
    """The web process's in-memory index returns exactly the embedded images."""
    expected = {
        r[0]
        for r in stack.sql("SELECT image_id FROM search_embedding WHERE model_name = %s", (MODEL,))
    }
    seen: dict[str, object] = {}

    def matches() -> bool:
        reply = api.search("grey", k=max(len(expected), 1), mode="topk")
        if reply.status != 200:
            seen["last"] = f"HTTP {reply.status} {reply.detail}"
            return False
        found = {hit["image"]["id"] for hit in reply.body["results"]}  # type: ignore[index]
        seen.update(missing=len(expected - found), unexpected=len(found - expected))
        return found == expected

    try:
        wait_until(matches, timeout=timeout, what="the web index to match pgvector", interval=0.5)
        converged = True
    except TimeoutError:
        converged = False
    return {"converged": converged, "embedded": len(expected), **seen}


def _short(value: object) -> object:
    if isinstance(value, list | dict) and len(value) > 10:
        items = list(value.items() if isinstance(value, dict) else value)
        return {"count": len(value), "first": items[:10]}
    return value
