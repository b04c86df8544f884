"""A cold ``imagegen generate`` on the embedded model, as a user runs it: the progress display names the import,
the model load and the denoising, and no third-party progress bar gets through."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_cold_generate_names_its_import_load_and_denoise_phases(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IMAGEGEN_LEDGER": str(tmp_path / "ledger.sqlite")}
    env.pop("IMAGEGEN_PROVIDER", None)
    proc = subprocess.run([sys.executable, "-c", "import sys; from imagegen.cli import main; sys.exit(main())",
                           "generate", "a red circle on a blue background", "-p", "diffusers:imagegen-mini",
                           "--seed", "1", "--steps", "4", "--progress", "on", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    phases = proc.stderr.splitlines()
    assert phases[:6] == ["importing imagegen_diffusers", "setting up diffusers:imagegen-mini",
                          "waiting for diffusers:imagegen-mini", "importing torch, diffusers",
                          "loading diffusers:imagegen-mini", "denoising diffusers:imagegen-mini (4 steps)"]
    assert phases[6] == "saving 1 image"
    assert "it/s" not in proc.stderr and "Loading" not in proc.stderr  # tqdm bars of diffusers/transformers
    assert (tmp_path / "out" / "a-red-circle-on-a-blue-background-1.png").is_file()
