"""`python -m celery`, with the fake encoder as slow as a real model.

The fake encoder answers in microseconds, so a worker killed "in the middle of a
batch" would almost never be caught running the model. With
RELIABILITY_MODEL_SECONDS set, every image batch takes that long in
`encode_images`, between the batch claiming its images (attempts + 1) and
storing their vectors: the window a real CPU model keeps open.
"""

from __future__ import annotations

import os
import sys
import time

from indexing.encoders.fake import FakeEncoder


def _slow_down(seconds: float) -> None:
    fast = FakeEncoder.encode_images

    def encode_images(self, images):  # type: ignore[no-untyped-def]
        if images:
            time.sleep(seconds)
        return fast(self, images)

    FakeEncoder.encode_images = encode_images  # type: ignore[method-assign]


if __name__ == "__main__":
    delay = float(os.environ.get("RELIABILITY_MODEL_SECONDS", "0") or 0)
    if delay > 0:
        _slow_down(delay)
    from celery.__main__ import main

    sys.exit(main())
