"""Each benchmark runs end to end on a tiny setting. No timing is asserted: figures live in BENCHMARKS.md."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def run_bench(script: str, *args: str, tmp_path) -> tuple[str, dict]:
    out = tmp_path / "result.json"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, os.path.join(BENCH, script), *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_remote_overhead_prints_the_three_way_table_with_ratios(tmp_path):
    pytest.importorskip("litellm")
    stdout, report = run_bench("remote_overhead.py", "--rounds", "2", "--warmup", "1", "--image-kb", "32",
                               "--concurrent", "8", "--limit", "4", "--latency-ms", "20", "--concurrent-reps", "1",
                               "--concurrent-kb", "8", "--import-reps", "1", tmp_path=tmp_path)
    for client in ("openai (response object only)", "imagegen.generate", "litellm.image_generation"):
        assert client in stdout
        assert report["sequential"][client]["n"] == 2
    assert set(report["ratios"]) == {"imagegen.generate / openai (target <= 1.0)",
                                     "imagegen + .data / openai + b64decode",
                                     "imagegen agenerate / openai async, own loop",
                                     "litellm / imagegen.generate (target >= 1.6)"}
    assert report["concurrent"]["ideal_s"] == pytest.approx(0.04)
    assert set(report["imports_s"]) >= {"imagegen", "openai", "litellm"}


def test_bench_server_sends_a_decodable_png_of_the_asked_size(tmp_path):
    sys.path.insert(0, BENCH)
    try:
        import httpx
        from _server import serve

        from imagegen.imageio import ImageData

        with serve(image_kb=64, max_seconds=60) as (base_url, size):
            body = httpx.post(f"{base_url}/images/generations", json={"prompt": "x"}).json()
            small = httpx.post(base_url.replace("/v1", "/lat/1/kb/4/v1") + "/images/generations", json={}).json()
    finally:
        sys.path.remove(BENCH)
    image = ImageData.from_base64(body["data"][0]["b64_json"])
    assert (image.mime, image.width, image.height) == ("image/png", 1024, 1024)
    assert 56 * 1024 <= len(image.data) <= 72 * 1024
    assert len(ImageData.from_base64(small["data"][0]["b64_json"]).data) < len(image.data)
    assert size > 64 * 1024 * 4 // 3


def test_local_overhead_prints_its_ratios(tmp_path):
    pytest.importorskip("diffusers")
    stdout, report = run_bench("local_overhead.py", "--size", "32", "--steps", "2", "--rounds", "2",
                               tmp_path=tmp_path)
    assert "cold process / warm, diffusers (target >= 10)" in report["ratios"]
    assert report["cold_process_s"]["diffusers"] > 0
    assert report["warm"]["diffusers pipe() + PNG encode"]["n"] == 2
    assert "cold fresh process (imports + load + first call), diffusers" in stdout


def test_hash_cache_bench_reports_cold_against_warm(tmp_path):
    stdout, report = run_bench("hash_cache.py", "--size-mb", "2", "--rounds", "2", tmp_path=tmp_path)
    assert set(report["median_s"]) == {"cold", "warm", "warm, new process"}
    assert set(report["ratios"]) == {"cold / warm", "cold / warm, new process", "cold MB/s"}
    assert "| warm, new process |" in stdout


def test_gpu_bench_tiny_runs_on_cpu_and_counts_unet_flops(tmp_path):
    pytest.importorskip("diffusers")
    stdout, report = run_bench("gpu.py", "--tiny", "--batches", "1", "--variants", "fp32,presets",
                               tmp_path=tmp_path)
    assert report["device_kind"] == "cpu"
    measured = [r for r in report["rows"] if "note" not in r]
    assert {r["model"] for r in measured} == {"sd15-tiny", "sdxl-tiny"}
    assert all(r["unet_tflop_per_step"] > 0 and r["s_per_image"] > 0 for r in measured)
    assert "| sdxl-tiny | 64² | diffusers fp32 | 1 |" in stdout


def test_gpu_peak_table_prefers_the_most_specific_name():
    sys.path.insert(0, BENCH)
    try:
        import gpu
    finally:
        sys.path.remove(BENCH)
    assert gpu.peak_for("NVIDIA H100 PCIe") == 756.0
    assert gpu.peak_for("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu.peak_for("NVIDIA A10G") == 70.0
    assert gpu.peak_for("Some Unknown Accelerator") is None


def test_gpu_bench_architectures_have_the_published_unet_sizes():
    pytest.importorskip("diffusers")
    sys.path.insert(0, BENCH)
    try:
        import gpu
    finally:
        sys.path.remove(BENCH)
    assert gpu.unet_params(gpu.sd15(tiny=False)) == 859_520_964  # SD 1.5's UNet: 859.5 M parameters
    assert gpu.unet_params(gpu.sdxl(tiny=False)) == 2_567_463_684  # SDXL base's UNet: 2.57 B


def test_server_bench_prints_the_overhead_and_throughput(tmp_path):
    pytest.importorskip("fastapi")
    stdout, report = run_bench("server.py", "--rounds", "3", "--warmup", "1", "--requests", "8", "--concurrency",
                               "1,4", tmp_path=tmp_path)
    assert "server overhead per request" in stdout
    assert report["sequential"]["server"]["n"] == 3 and report["sequential"]["in-process"]["n"] == 3
    assert {int(c) for c in report["throughput"]} == {1, 4}
    assert all(row["ok"] == 8 for row in report["throughput"].values())


def test_batch_bench_prints_in_process_and_ray_side_by_side(tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("imagegen_diffusers")
    stdout, report = run_bench("batch.py", "--items", "3", "--rounds", "1", "--steps", "1", "--cloud",
                               "--latency", "0.01", tmp_path=tmp_path)
    assert set(report["local"]) == {"in-process", "ray, 1 worker", "ray, 2 workers"}
    assert set(report["cloud"]) == {"in-process", "ray tasks"}
    assert all(x["n"] == 1 and x["images_per_s"] > 0 for x in report["local"].values())
    assert "ray 2 workers / 1 worker (steady; 2.0 = linear)" in report["ratios"] and "| ray, 2 workers |" in stdout


def test_cold_start_bench_reports_the_first_image_against_bare_imports(tmp_path):
    pytest.importorskip("imagegen_diffusers")
    stdout, report = run_bench("cold_start.py", "--rounds", "1", tmp_path=tmp_path)
    assert report["bare_s"] > 0 and report["first_image_s"]["load (load_s)"] > 0
    assert "first image / bare import torch, diffusers" in report["ratios"]
    assert "| diffusers' lazy pipeline imports |" in stdout
