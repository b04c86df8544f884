import subprocess
import sys

HEAVY = ("torch", "openai", "diffusers", "numpy", "google.genai", "transformers", "PIL", "typer", "rich", "fastapi",
         "starlette", "uvicorn", "ray")


def test_import_imagegen_pulls_in_no_heavy_dependency():
    code = (
        "import sys, imagegen\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_cli_imports_the_server_only_when_serve_runs():
    code = ("import sys, imagegen.cli\n"
            "print(','.join(m for m in ('fastapi', 'uvicorn', 'imagegen.server') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
