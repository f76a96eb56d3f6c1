"""The README's screenshots: txt2img before and after a result, at 1280×800 and 390 px wide, light and dark.

    .venv/bin/python -m tests.ui.make_screenshots [docs]

A real server on a fresh data folder (the demo model) and Debian's Chromium, as the browser tests; the PNGs are
reduced to 256 colours so they stay small in the repository.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

from tests.support.server import Server
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}


def _small_png(path: Path) -> None:
    with Image.open(path) as shot:
        reduced = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    reduced.save(path, optimize=True)


def _shoot(browser, url: str, size: str, theme: str, folder: Path) -> None:
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    page.goto(f"{url}/?__theme={theme}", wait_until="load")
    page.wait_for_selector("#html_info_txt2img", state="attached")
    page.fill("#txt2img_prompt textarea", "masterpiece, 1girl, (red hair:1.2), city at night")
    page.fill("#txt2img_neg_prompt textarea", "lowres, bad hands")
    for elem_id, value in (("txt2img_steps", 4), ("txt2img_width", 64), ("txt2img_height", 96)):
        field = page.locator(f"#{elem_id} input[type=number]")
        field.fill(str(value))
        field.press("Enter")
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    before = folder / f"txt2img-{size}-{theme}-before.png"
    page.screenshot(path=str(before))
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Steps: 4')",
                           timeout=120_000)
    if size == "390":  # the result is below the controls on a phone: show it
        page.locator("#txt2img_gallery").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    after = folder / f"txt2img-{size}-{theme}-after.png"
    page.screenshot(path=str(after))
    context.close()
    for path in (before, after):
        _small_png(path)


def main(folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kestrel-shots-") as scratch:
        server = Server(Path(scratch) / "data", Path(scratch) / "server.log")
        try:
            server.wait_ready()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                for size in SIZES:
                    for theme in ("light", "dark"):
                        _shoot(browser, server.url, size, theme, folder)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
