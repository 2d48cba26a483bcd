"""Screenshots of the main pages from the seeded demo: writes docs/screenshots/*.png.

Migrates the development database, seeds the demo (manage.py cbir_demo: the
user `demo` and scikit-image's sample photos), embeds the photos in this
process with the configured encoder, adds a manager caption, then serves the
site with `manage.py runserver` on loopback and
drives headless Chromium (Playwright) through it at 1280x900 and 390x844.
Development only (the demo user has a known password). Needs the test extras
(Playwright) and Chromium (CBIR_CHROMIUM, default /usr/bin/chromium).

    python scripts/screenshots.py                  # into docs/screenshots/
    python scripts/screenshots.py --out /tmp/shots --query "a tabby cat"
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CBIR_CHROMIUM", "/usr/bin/chromium")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def seed() -> None:
    """The demo user and photos, embedded; a caption on the cat for the viewer to show."""
    import django

    django.setup()
    from django.core.management import call_command

    from feedback.expansion_service import caption_add
    from galleries.models import Image
    from indexing.embedding import images_embed
    from indexing.runtime import get_encoder

    call_command("migrate", verbosity=0)
    call_command("cbir_demo", quiet_if_present=True)
    photos = Image.objects.filter(gallery__slug="sample-photos")
    waiting = list(photos.exclude(status=Image.Status.READY).values_list("pk", flat=True))
    if waiting:
        images_embed(image_ids=waiting)
    cat = photos.filter(original_filename__startswith="chelsea").first()
    if cat is not None:
        from django.contrib.auth import get_user_model

        demo = get_user_model().objects.get(username="demo")
        caption_add(image=cat, text="Chelsea, the cat", user=demo, encoder=get_encoder())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.3)
    server.terminate()
    raise SystemExit("the development server did not start")


def shoot(base: str, out: Path, query: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written: list[Path] = []

    def save(page, name: str, *, full: bool = False) -> None:  # type: ignore[no-untyped-def]
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        written.append(path)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
            context = browser.new_context(
                viewport=size, is_mobile=size is PHONE, has_touch=size is PHONE
            )
            page = context.new_page()
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "demo")
            page.fill("input[name=password]", "demo-password")
            page.click("form[action='/accounts/login/'] button[type=submit]")
            page.wait_for_url(f"{base}/galleries/")
            save(page, f"galleries{suffix}")
            page.goto(f"{base}/galleries/sample-photos/")
            page.wait_for_load_state("networkidle")
            save(page, f"gallery{suffix}")
            page.goto(f"{base}/search/")
            page.fill("input[name=q]", query)
            page.click("[data-testid=search-form] button[type=submit]")
            page.wait_for_url("**/search/sessions/**")
            page.locator("[data-testid=results] figure.tile img").first.wait_for()
            page.wait_for_load_state("networkidle")
            save(page, f"search-results{suffix}")
            page.locator("[data-testid=results] figure.tile a.open").first.click()
            page.get_by_test_id("viewer").wait_for()
            page.wait_for_function(
                "() => { const i = document.querySelector('[data-testid=viewer-image]');"
                " return i.complete && i.naturalWidth > 0; }"
            )
            save(page, f"viewer{suffix}")
            page.keyboard.press("Escape")
            if size is DESKTOP:
                page.keyboard.press("?")
                save(page, "shortcuts")
                page.keyboard.press("Escape")
            context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--query", default="a cat")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbir_site.settings")
    os.environ.setdefault("CBIR_BACKGROUND_TASKS", "false")  # the script embeds; no worker needed
    os.chdir(REPO)
    seed()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = serve(port)
    try:
        for path in shoot(f"http://127.0.0.1:{port}", args.out, args.query):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
