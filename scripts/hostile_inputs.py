"""Hostile inputs at their real sizes, measured: what the guarded image path answers, how fast,
and how much memory the process that decodes them needs.

Each file is sent, in a fresh child process, through what an upload does
(`validate_image` at the thumbnail's scale, then the thumbnail) and what the
embedding worker and search by example do (the guarded decode at the model's
side, then the bundled encoder's own transform, Resize(256) + CenterCrop(224)),
under the product's default limits. The child reports its peak resident memory
(VmHWM) above what it held after its imports.

    python scripts/hostile_inputs.py            # prints the table, updates docs/reliability.*
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile_images import real_size_cases  # noqa: E402
from tests.reliability import report  # noqa: E402

CHILD = r"""
import json, sys, time
from pathlib import Path
from torchvision import transforms
from galleries.imaging import DEFAULT_LIMITS, ImageRejected, decode, thumbnail_jpeg, validate_image
from indexing.encoders.base import bounded_input

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
model_input = transforms.Compose([
    transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
    transforms.CenterCrop(224), transforms.ToTensor()])
data = Path(sys.argv[1]).read_bytes()
baseline, started = peak_mb(), time.perf_counter()
try:
    validated = validate_image(data, DEFAULT_LIMITS, decode_side=384)
    thumbnail_jpeg(validated.picture, 384)
    model_input(bounded_input(decode(data, DEFAULT_LIMITS, min_side=224), 256))
    outcome = f"accepted ({validated.width}x{validated.height})"
except ImageRejected as exc:
    outcome = f"refused: {exc.code}"
print(json.dumps({"outcome": outcome, "ms": round(1000 * (time.perf_counter() - started), 1),
                  "peak_mb": round(peak_mb() - baseline, 1)}))
"""


def measure() -> list[dict[str, object]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, data in real_size_cases():
            path = Path(folder) / "case"
            path.write_bytes(data)
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            row = {"input": name, "bytes": len(data), **json.loads(done.stdout.splitlines()[-1])}
            print(f"{name}: {row}", flush=True)
            rows.append(row)
    return rows


def main() -> int:
    rows = measure()
    out = ROOT / "docs" / "reliability.json"
    document = json.loads(out.read_text())
    document["hostile_inputs"] = rows
    out.write_text(json.dumps(document, indent=1, default=str) + "\n")
    out.with_suffix(".md").write_text(report.markdown(document))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
