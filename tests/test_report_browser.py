"""The report `imagegen compare` writes, in a real browser: headless Chromium renders every image,
and a vote clicked in the page exports as JSON.

Chromium's own ``--dump-dom`` is enough: a probe script appended to a copy of the report waits for
the page to load, clicks like a person would, and writes what it saw into the DOM that is dumped.
Needs Debian's ``chromium``, which the README's test block installs; skipped without it, except in CI.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

import imagegen
from imagegen.cli import main
from imagegen.errors import ContentPolicyError
from imagegen.testing import FakeProvider

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--virtual-time-budget=10000"]

PROBE = """
<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images).map(function (img) {
    return {provider: img.dataset.provider, seed: img.dataset.seed, complete: img.complete,
            width: img.naturalWidth, height: img.naturalHeight};
  });
  document.querySelector('input[name="vote-0"][value="other:b"]').click();
  document.querySelector('input[name="vote-1"][value=""]').click();
  document.getElementById('export').click();
  document.getElementById('blind').click();
  var blind = {name: getComputedStyle(document.querySelector('th .name')).display,
               letter: document.querySelector('th .letter').textContent,
               letterShown: getComputedStyle(document.querySelector('th .letter')).display,
               summary: getComputedStyle(document.getElementById('summary')).display};
  var out = document.createElement('pre');
  out.id = 'probe-result';
  out.textContent = JSON.stringify({images: images, blind: blind,
                                    exported: document.getElementById('votes-json').textContent,
                                    download: document.getElementById('download').getAttribute('href')});
  document.body.appendChild(out);
});
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; the README's test block installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


imagegen.register_provider("other", lambda model="b": FakeProvider(
    model, name="other", script=[None, None, ContentPolicyError("refused: upstream policy")]))


@pytest.fixture(scope="module")
def probed(chromium, tmp_path_factory) -> dict:
    """What Chromium saw in the report that `imagegen compare` wrote."""
    folder = tmp_path_factory.mktemp("report")
    code = main(["compare", "a lighthouse in a storm", "a fox, at dusk", "-p", "fake:a", "-p", "other:b",
                 "--seeds", "1,2", "--size", "96x64", "--no-ledger", "-o", str(folder / "ab")])
    assert code == 0
    cmp = json.loads((folder / "ab" / "comparison.json").read_text())
    page = (folder / "ab" / "report.html").read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    (folder / "report.html").write_text(page, encoding="utf-8")
    proc = subprocess.run([chromium, *FLAGS, f"--user-data-dir={folder / 'profile'}", "--dump-dom",
                           (folder / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the probe did not run; chromium said: {proc.stderr[-2000:]}"
    return {"comparison": cmp, **json.loads(html.unescape(found[1]))}


def test_every_image_in_the_report_renders(probed):
    cells = probed["comparison"]["cells"]
    expected = sum(len(c["seeds"]) for c in cells)
    assert expected == 7 and len(probed["images"]) == expected
    assert all(img["complete"] and (img["width"], img["height"]) == (96, 64) for img in probed["images"])


def test_clicked_votes_export_as_json(probed):
    exported = json.loads(probed["exported"])
    assert exported["providers"] == ["fake:a", "other:b"]
    first, second = exported["votes"]
    assert (first["prompt"], first["winner"], first["tie"], first["voted"]) == (
        "a lighthouse in a storm", "other:b", False, True)
    assert (second["prompt"], second["winner"], second["tie"]) == ("a fox, at dusk", None, True)


def test_the_download_link_carries_the_same_votes(probed):
    prefix = "data:application/json;charset=utf-8,"
    assert probed["download"].startswith(prefix)
    from urllib.parse import unquote

    assert json.loads(unquote(probed["download"][len(prefix):])) == json.loads(probed["exported"])


def test_blind_mode_hides_provider_names_and_the_summary(probed):
    assert probed["blind"] == {"name": "none", "letter": "A", "letterShown": "inline", "summary": "none"}
