"""The page at ``/`` in headless Chromium (Debian's, driven by Playwright): typing a prompt and pressing
Generate shows the image in the gallery with its settings and cost, and the spend table lists the provider.
Skipped without Chromium, except in CI (the README's test block installs it)."""

from __future__ import annotations

import os
import shutil

import pytest

from imagegen import Capabilities
from imagegen.testing import FakeProvider, fake_color

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SMALL = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed", "steps"}))


@pytest.fixture
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; the README's test block installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chrome
        chrome.close()


def test_a_generate_from_the_page_shows_the_image(live, browser):
    server = live(providers=[FakeProvider(capabilities=SMALL, price_per_image=0.04)])
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#model option[value='fake:fake-1']", state="attached")
    page.fill("#prompt", "a red circle on a blue background")
    page.fill("#seed", "7")
    page.fill("#steps", "12")
    page.click("#go")
    page.wait_for_function("document.querySelectorAll('#gallery img').length === 1 && "
                           "document.querySelector('#gallery img').naturalWidth > 0")
    shown = page.evaluate("""() => {
        const img = document.querySelector('#gallery img');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        return {size: [img.naturalWidth, img.naturalHeight], pixel: Array.from(ctx.getImageData(0, 0, 1, 1).data),
                caption: document.querySelector('#gallery figcaption').textContent,
                status: document.getElementById('status').textContent,
                spend: document.getElementById('spend').textContent};
    }""")
    assert shown["size"] == [64, 64]
    assert shown["pixel"][:3] == list(fake_color("a red circle on a blue background", 7))
    assert "seed 7" in shown["caption"] and "12 steps" in shown["caption"] and "$0.0400" in shown["caption"]
    assert shown["status"].startswith("done: 1 image(s) from fake:fake-1")
    assert "fake:fake-1" in shown["spend"] and "$0.0400" in shown["spend"]


def test_the_page_asks_a_keyed_server_for_the_key(live, browser):
    key = "sk-ig-page-key-0123456789"
    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=[key])
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert page.text_content("#status").startswith("no API key")
    page.fill("#key", key)
    page.fill("#prompt", "x")
    page.click("#go")
    page.wait_for_function("document.querySelectorAll('#gallery img').length === 1")
