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

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.hostile_images import animation, jpeg_with_exif, png_header_only  # noqa: E402
from tests.reliability import report  # noqa: E402

CHILD = r"""
import json, sys, time
from pathlib import Path
from torchvision import transforms
from galleries.imaging import DEFAULT_LIMITS, ImageRejected, decode, thumbnail_jpeg, validate_image
from search.encoders.base import bounded_input

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


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def cases() -> list[tuple[str, bytes]]:
    """(description, bytes), built lazily one at a time by the caller's loop."""
    return [
        ("70000x1 PNG strip", _encode(Image.new("L", (70000, 1)), "PNG")),
        ("1x70000 PNG strip", _encode(Image.new("L", (1, 70000)), "PNG")),
        ("10000x1 PNG strip", _encode(Image.new("L", (10000, 1)), "PNG")),
        ("1x1 PNG", _encode(Image.new("L", (1, 1)), "PNG")),
        ("10000x16 WebP strip (625:1)", _encode(Image.new("L", (10000, 16)), "WEBP")),
        ("30001x1600 PNG (side limit + 1)", _encode(Image.new("1", (30001, 1600)), "PNG")),
        ("60000x60000 PNG header (bomb)", png_header_only(60_000, 60_000)),
        (
            "16383x16383 WebP lossless canvas",
            _encode(Image.new("L", (16383, 16383)), "WEBP", lossless=True),
        ),
        (
            "12000x12000 TIFF deflate canvas",
            _encode(Image.new("L", (12000, 12000)), "TIFF", compression="tiff_deflate"),
        ),
        ("10000x10000 GIF canvas", _encode(Image.new("L", (10000, 10000)), "GIF")),
        ("5000-frame GIF", animation("GIF", 5000)),
        ("2000-frame APNG", animation("PNG", 2000)),
        (
            "8900x8900 black PNG (79 MP, the largest legal canvas)",
            _encode(Image.new("RGB", (8900, 8900)), "PNG"),
        ),
        ("12000x1000 JPEG panorama (12:1)", _encode(Image.new("RGB", (12000, 1000)), "JPEG")),
        (
            "4000x3000 JPEG photo-sized",
            _encode(Image.effect_noise((4000, 3000), 40).convert("RGB"), "JPEG"),
        ),
        ("16-bit greyscale PNG", _encode(Image.new("I;16", (2000, 2000), 30000), "PNG")),
        ("CMYK JPEG", _encode(Image.new("CMYK", (2000, 2000), (0, 200, 200, 0)), "JPEG")),
        ("JPEG with a broken EXIF block", jpeg_with_exif(b"Exif\x00\x00II*\x00\xff\xff\xff\xff")),
    ]


def measure() -> list[dict[str, object]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, data in cases():
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
