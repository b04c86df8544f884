"""Every Python snippet in README.md and docs/*.md runs, offline, as a reader would paste it: the blocks of one
page in order, in one fresh interpreter, in an empty folder, with OpenAI pointed at a scripted server on
127.0.0.1 and the embedded model for local calls. A block that cannot run offline says why just above it
(``<!-- not run: REASON -->``), and nothing else is skipped: a page that drifts from the code fails here."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from imagegen.testing import RecordedRequest, Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"((?:^<!--[^\n]*-->\n)*)^```python\n(.*?)^```", re.M | re.S)
NOT_RUN = re.compile(r"<!-- not run(?: here)?: (.+?) -->")

RUNNER = """
import json, sys
for block in json.load(open(sys.argv[1], encoding="utf-8")):
    # padded so a traceback names the page and its own line numbers
    code = compile("\\n" * (block["line"] - 1) + block["code"], block["page"], "exec")
    exec(code, globals())
"""


@dataclass
class Snippet:
    page: str
    line: int
    code: str
    not_run: str | None


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        line = text[:match.start(2)].count("\n") + 1
        reason = NOT_RUN.search(match[1])
        name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name
        found.append(Snippet(name, line, match[2], reason[1] if reason else None))
    return found


def _png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 60, 40)).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def openai_images(request: RecordedRequest) -> Reply:
    """The OpenAI Images API as the docs' calls meet it: n images of the size asked, with the fields each
    model family answers with (DALL·E 3's revised prompt, GPT Image's token usage)."""
    if not re.search(r"/images/(generations|edits|variations)$", request.path):
        return Reply.json({"error": {"message": f"no route {request.path}", "type": "invalid_request_error"}},
                          status=404)
    fields = request.fields
    size = str(fields.get("size") or "1024x1024")
    width, height = (1024, 1024) if size == "auto" else (int(v) for v in size.split("x"))
    model = str(fields.get("model") or "dall-e-2")
    data = []
    for _ in range(int(fields.get("n") or 1)):
        item = {"b64_json": _png(width, height)}
        if model == "dall-e-3":
            item["revised_prompt"] = f"{fields.get('prompt')}, in detail"
        data.append(item)
    body: dict[str, object] = {"created": 1_764_633_600, "data": data}
    if model.startswith("gpt-image"):
        body["usage"] = {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210,
                         "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}
    return Reply.json(body)


@pytest.fixture(scope="module")
def openai_server():
    with ScriptedServer(default=openai_images, base_path="/v1") as server:
        yield server


def run_page(page: Path, folder: Path, server: ScriptedServer) -> subprocess.CompletedProcess[str]:
    blocks = [s.__dict__ for s in snippets(page) if s.not_run is None]
    (folder / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not re.search(r"API_KEY|TOKEN|SECRET|^GOOGLE|^GEMINI|^IMAGEGEN_", k)}
    env.update(OPENAI_API_KEY="sk-docs-0123456789abcdef", OPENAI_BASE_URL=server.url, HF_HUB_OFFLINE="1",
               IMAGEGEN_LEDGER=str(folder / "ledger.sqlite"))
    return subprocess.run([sys.executable, "-c", RUNNER, str(folder / "blocks.json")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


RUNNABLE = [p for p in PAGES if any(s.not_run is None for s in snippets(p))]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_every_python_snippet_on_the_page_runs(page, tmp_path, openai_server):
    for package in ("imagegen_openai", "imagegen_diffusers"):
        pytest.importorskip(package)
    proc = run_page(page, tmp_path, openai_server)
    assert proc.returncode == 0, f"{page.name}: a snippet failed\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def test_only_snippets_that_say_why_are_left_out():
    skipped = [s for p in PAGES for s in snippets(p) if s.not_run is not None]
    assert all(len(s.not_run.split()) >= 3 for s in skipped if s.not_run)  # a reason, not a bare marker
    ran = sum(1 for p in PAGES for s in snippets(p) if s.not_run is None)
    assert ran > len(skipped), "most snippets must run"
    assert {p.name for p in RUNNABLE} >= {"README.md", "cli.md", "evaluation.md", "providers.md"}


def test_a_snippet_that_breaks_fails_the_page(tmp_path, openai_server):
    page = tmp_path / "page.md"
    page.write_text("```python\nimport imagegen\n```\n\n```python\nimagegen.no_such_function()\n```\n")
    proc = run_page(page, tmp_path, openai_server)
    assert proc.returncode != 0 and 'page.md", line 6' in proc.stderr
