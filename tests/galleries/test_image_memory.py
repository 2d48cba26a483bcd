"""Peak memory of a process that decodes the hostile corpus for a model, measured.

A 148-byte 70000x1 PNG once took a web worker to 20 GB: the model's resize
scaled its short side up to 256 pixels. A child process runs the product's
guarded decode and the bundled encoder's own transform (Resize(256) +
CenterCrop(224)) on every case under the product's default limits, plus the
largest legitimate canvas (an 8900x8900 PNG, 79 megapixels in 231 KB), and
reports its peak resident memory (VmHWM) above what it held after its imports.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

CHILD = r"""
import json, sys, time
from pathlib import Path
from torchvision import transforms
from galleries.imaging import DEFAULT_LIMITS, ImageRejected, decode
from indexing.encoders.base import bounded_input
from tests.hostile_images import corpus

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
model_input = transforms.Compose([
    transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
])
cases = [(c.name, c.data) for c in corpus()]
cases.append(("black-8900.png", Path(sys.argv[1]).read_bytes()))
baseline = peak_mb()
slowest, outcomes = 0.0, {}
for name, data in cases:
    started = time.perf_counter()
    try:
        tensor = model_input(bounded_input(decode(data, DEFAULT_LIMITS, min_side=224), 256))
        outcomes[name] = list(tensor.shape)
    except ImageRejected as exc:
        outcomes[name] = exc.code
    slowest = max(slowest, time.perf_counter() - started)
print(json.dumps({"growth_mb": peak_mb() - baseline, "slowest_s": slowest, "outcomes": outcomes}))
"""


def test_decoding_the_corpus_for_a_model_keeps_memory_and_time_bounded(tmp_path: Path):
    canvas = tmp_path / "black-8900.png"
    buffer = io.BytesIO()
    Image.new("RGB", (8900, 8900)).save(buffer, format="PNG")
    canvas.write_bytes(buffer.getvalue())
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(canvas)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    outcomes = result["outcomes"]
    # Under the product's defaults the strips are refused from their headers ...
    assert outcomes["strip-70000x1.png"] == "too_small"
    assert outcomes["strip-1x70000.png"] == "too_small"
    assert outcomes["strip-2000x40.png"] == "extreme_aspect_ratio"
    # ... and what passes reaches the model as exactly its input.
    assert outcomes["panorama-2400x200.jpg"] == [3, 224, 224]
    assert outcomes["black-8900.png"] == [3, 224, 224]
    # 8900 x 8900 RGB is 238 MB decoded; nothing may cost more than a few such copies.
    assert result["growth_mb"] < 1024, result
    assert result["slowest_s"] < 20, result
