"""Real-size SD 1.5 and SDXL on a GPU: seconds per image, steps/s, peak memory and UNet MFU.

The pipelines are built from their published architectures with random weights (nothing is
downloaded; speed does not depend on the weights' values): SD 1.5 at 512², SDXL at 1024², 30
steps, batch 1 and 4, as naive diffusers fp32, diffusers fp16, and through each of imagegen's
presets when ``imagegen-diffusers`` is installed. UNet FLOPs per step are counted once with
``torch.utils.flop_counter`` and divided by the measured time per denoising step and the
device's dense bf16 peak (table below; ``--peak-tflops`` overrides it) to give MFU.

    python bench/gpu.py                       # on a CUDA machine: the real measurement
    python bench/gpu.py --tiny                # scaled-down models on CPU, for CI smoke runs
    python bench/gpu.py --models sdxl --batches 1 --json out.json
    python bench/gpu.py --flops               # UNet FLOPs per step only, on the meta device
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _tiny import _tokenizer_files, diffusers

#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets.
BF16_PEAK_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0,
    "GH200": 989.0, "B200": 2250.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0, "L40": 181.0,
    "L4": 121.0, "A10G": 70.0, "A10": 125.0, "RTX 6000 Ada": 364.0, "RTX A6000": 155.0,
    "RTX 4090": 165.0, "RTX 3090": 71.0, "MI300X": 1307.0, "MI250X": 383.0,
}


def peak_for(device_name: str) -> float | None:
    """The longest table key contained in the device name (so "H100 PCIe" beats "H100")."""
    hits = [k for k in BF16_PEAK_TFLOPS if k.lower() in device_name.lower()]
    return BF16_PEAK_TFLOPS[max(hits, key=len)] if hits else None


# -- architectures ------------------------------------------------------------------------------

@dataclass
class Arch:
    name: str
    resolution: int
    unet: dict[str, Any]
    vae: dict[str, Any]
    text: list[dict[str, Any]]  # one CLIP text config per encoder (SDXL: the second has a projection)
    xl: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def sd15(tiny: bool) -> Arch:
    if tiny:
        return Arch("sd15-tiny", 64, unet=dict(
            sample_size=8, block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4, norm_num_groups=8),
            vae=dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                     up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8),
            text=[dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       projection_dim=32)])
    # UNet2DConditionModel's defaults are SD 1.x's UNet
    return Arch("sd15", 512, unet=dict(sample_size=64, cross_attention_dim=768),
                vae=dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                         sample_size=512),
                text=[dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           hidden_act="quick_gelu", projection_dim=768)])


def sdxl(tiny: bool) -> Arch:
    if tiny:
        return Arch("sdxl-tiny", 64, xl=True, unet=dict(
            sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2), attention_head_dim=(2, 4), cross_attention_dim=96,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=8 * 6 + 64, norm_num_groups=8),
            vae=dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                     up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8),
            text=[dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       projection_dim=32),
                  dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       projection_dim=64)])
    return Arch("sdxl", 1024, xl=True, unet=dict(
        sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816),
        vae=dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                 up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=1024,
                 scaling_factor=0.13025),
        text=[dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   hidden_act="quick_gelu", projection_dim=768),
              dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                   hidden_act="gelu", projection_dim=1280)])


def build(arch: Arch, dtype: Any, device: str) -> Any:
    """The diffusers pipeline for ``arch`` with random weights."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        _tokenizer_files(tmp)
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
    common: dict[str, Any] = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                  pad_token_id=1)
    scheduler = diffusers().EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    unet = diffusers().UNet2DConditionModel(**arch.unet)
    vae = diffusers().AutoencoderKL(**arch.vae)
    if arch.xl:
        pipe = diffusers().StableDiffusionXLPipeline(
            vae=vae, unet=unet, scheduler=scheduler, tokenizer=tokenizer, tokenizer_2=tokenizer,
            text_encoder=CLIPTextModel(CLIPTextConfig(**common, **arch.text[0])),
            text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**common, **arch.text[1])))
    else:
        pipe = diffusers().StableDiffusionPipeline(
            vae=vae, unet=unet, scheduler=scheduler, tokenizer=tokenizer,
            text_encoder=CLIPTextModel(CLIPTextConfig(**common, **arch.text[0])),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


# -- measurement --------------------------------------------------------------------------------

def unet_flops_per_step(arch: Arch, batch: int) -> int:
    """FLOPs of one UNet call as the pipeline makes it (classifier-free guidance doubles the batch),
    counted on the meta device: no memory, no compute, the same on every machine."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    rows, side = 2 * batch, arch.resolution // 8
    with torch.device("meta"):
        unet = diffusers().UNet2DConditionModel(**arch.unet)
        sample = torch.randn(rows, unet.config.in_channels, side, side)
        hidden = torch.randn(rows, 77, unet.config.cross_attention_dim)
        kwargs: dict[str, Any] = {}
        if arch.xl:
            kwargs["added_cond_kwargs"] = {"text_embeds": torch.randn(rows, arch.text[1]["projection_dim"]),
                                           "time_ids": torch.zeros(rows, 6)}
        timestep = torch.tensor(500)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        unet(sample, timestep, encoder_hidden_states=hidden, **kwargs)
    return int(counter.get_total_flops())


def run_once(call: Any, steps: int, device: str) -> tuple[float, float]:
    """(whole-call seconds, seconds per denoising step), the latter from step-end timestamps."""
    import torch

    stamps: list[float] = []

    def on_step_end(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return kwargs

    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    call(on_step_end)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    per_step = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else wall / max(1, steps)
    return wall, per_step


def peak_memory_gib(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process max RSS (KiB on Linux)


def reset_peak(device: str) -> None:
    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def measure_raw(arch: Arch, label: str, dtype: Any, device: str, args: argparse.Namespace,
                peak_tflops: float | None) -> list[dict[str, Any]]:
    import torch

    rows = []
    reset_peak(device)
    pipe = build(arch, dtype, device)
    for batch in args.batches:
        flops = unet_flops_per_step(arch, batch)

        def call(cb: Any, batch: int = batch) -> Any:
            return pipe(["a red fox in fresh snow"] * batch, num_inference_steps=args.steps, guidance_scale=7.0,
                        height=arch.resolution, width=arch.resolution, output_type="np",
                        generator=torch.Generator(device).manual_seed(0), callback_on_step_end=cb)

        reset_peak(device)
        for _ in range(args.warmup):
            run_once(call, args.steps, device)
        timings = [run_once(call, args.steps, device) for _ in range(args.repeats)]
        rows.append(row(arch, label, batch, timings, flops, peak_memory_gib(device), peak_tflops, args.steps))
    return rows


def measure_preset(arch: Arch, preset: str, device: str, args: argparse.Namespace, folder: str,
                   peak_tflops: float | None) -> list[dict[str, Any]]:
    """One imagegen preset through the real loading code, on a saved copy of the random pipeline."""
    import imagegen_diffusers

    import imagegen

    rows = []
    reset_peak(device)
    provider = imagegen_diffusers.DiffusersProvider(folder, preset=preset)
    client = imagegen.Client(provider, retry=False, fallback=False)
    for batch in args.batches:
        flops = unet_flops_per_step(arch, batch)
        def call(cb: Any, batch: int = batch) -> Any:
            return client.generate("a red fox in fresh snow", n=batch, steps=args.steps, guidance=7.0, seed=0,
                                   size=f"{arch.resolution}x{arch.resolution}")

        reset_peak(device)
        for _ in range(args.warmup):
            run_once(call, args.steps, device)
        timings = [run_once(call, args.steps, device) for _ in range(args.repeats)]
        timings = [(wall, wall / args.steps) for wall, _ in timings]  # no step callback: whole call
        rows.append(row(arch, f"imagegen preset {preset}", batch, timings, flops, peak_memory_gib(device),
                        peak_tflops, args.steps))
    client.close()
    return rows


def row(arch: Arch, label: str, batch: int, timings: list[tuple[float, float]], flops: int | None, mem: float,
        peak_tflops: float | None, steps: int) -> dict[str, Any]:
    walls = sorted(w for w, _ in timings)
    per_step = sorted(s for _, s in timings)[len(timings) // 2]
    wall = walls[len(walls) // 2]
    achieved = flops / per_step / 1e12 if flops else None
    return {"model": arch.name, "resolution": arch.resolution, "variant": label, "batch": batch,
            "s_per_image": wall / batch, "steps_per_s": steps / wall, "peak_mem_gib": mem,
            "unet_tflop_per_step": flops / 1e12 if flops else None, "unet_tflops_achieved": achieved,
            "mfu": achieved / peak_tflops if achieved and peak_tflops else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="scaled-down models, 2 steps, on CPU (smoke runs)")
    ap.add_argument("--models", default="sd15,sdxl")
    ap.add_argument("--batches", default=None, help="comma-separated batch sizes (default 1,4; --tiny 1,2)")
    ap.add_argument("--steps", type=int, default=None, help="default 30 (--tiny 2)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--variants", default="fp32,fp16,presets", help="any of fp32, fp16, presets")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available; --tiny: cpu)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default 1 on CPU: on a shared machine more threads spin-wait)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="override the device's dense bf16 peak")
    ap.add_argument("--flops", action="store_true", help="only count UNet FLOPs per step (no GPU needed)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    if args.flops:
        return print_flops(args)

    args.steps = args.steps or (2 if args.tiny else 30)
    args.batches = [int(b) for b in (args.batches or ("1,2" if args.tiny else "1,4")).split(",")]
    if args.tiny:
        args.repeats, args.warmup = min(args.repeats, 1), 0
    device = args.device or ("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    if args.threads or device == "cpu":
        torch.set_num_threads(args.threads or 1)
    if device == "cuda":
        name = torch.cuda.get_device_name()
        half = torch.float16
    else:
        name = platform.processor() or platform.machine()
        half = torch.bfloat16  # CPU fp16 kernels are missing or slow; bf16 stands in
    peak = args.peak_tflops or (peak_for(name) if device == "cuda" else None)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # "naive fp32" means real fp32
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": name,
                              "device_kind": device, "bf16_peak_tflops": peak, "torch": torch.__version__,
                              "steps": args.steps, "rows": []}
    variants = args.variants.split(",")
    archs = {"sd15": sd15, "sdxl": sdxl}
    for model in args.models.split(","):
        arch = archs[model](args.tiny)
        if "fp32" in variants:
            report["rows"] += measure_raw(arch, "diffusers fp32", torch.float32, device, args, peak)
        if "fp16" in variants:
            label = "diffusers fp16" if device == "cuda" else "diffusers bf16 (CPU)"
            report["rows"] += measure_raw(arch, label, half, device, args, peak)
        if "presets" in variants:
            report["rows"] += presets(arch, device, args, peak)
    print_report(report)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


def presets(arch: Arch, device: str, args: argparse.Namespace, peak: float | None) -> list[dict[str, Any]]:
    """Every preset imagegen-diffusers lists; a row that says why when it cannot run."""
    try:
        import imagegen_diffusers
    except ImportError:
        return [{"model": arch.name, "variant": "imagegen presets", "note": "not measured: imagegen-diffusers "
                 "is not installed"}]
    names = list(getattr(imagegen_diffusers, "PRESETS", ()))
    if not names:
        return [{"model": arch.name, "variant": "imagegen presets",
                 "note": "not measured: imagegen_diffusers exposes no PRESETS"}]
    import torch

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        build(arch, torch.float32, "cpu").save_pretrained(tmp, safe_serialization=True)
        for preset in names:
            try:
                rows += measure_preset(arch, preset, device, args, tmp, peak)
            except Exception as exc:  # one preset failing (say, OOM) must not hide the others
                rows.append({"model": arch.name, "variant": f"imagegen preset {preset}",
                             "note": f"failed: {type(exc).__name__}: {str(exc)[:120]}"})
    return rows


def print_flops(args: argparse.Namespace) -> dict[str, Any]:
    batches = [int(b) for b in (args.batches or ("1,2" if args.tiny else "1,4")).split(",")]
    archs = {"sd15": sd15, "sdxl": sdxl}
    out: dict[str, Any] = {}
    print("| model | res | batch | UNet TFLOP/step (with CFG) | UNet params (M) |\n|---|---:|---:|---:|---:|")
    for model in args.models.split(","):
        arch = archs[model](args.tiny)
        params = unet_params(arch)
        for batch in batches:
            tflop = unet_flops_per_step(arch, batch) / 1e12
            out[f"{arch.name}/b{batch}"] = tflop
            print(f"| {arch.name} | {arch.resolution}² | {batch} | {tflop:.3f} | {params / 1e6:.1f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


def unet_params(arch: Arch) -> int:
    import torch

    with torch.device("meta"):
        return sum(p.numel() for p in diffusers().UNet2DConditionModel(**arch.unet).parameters())


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def print_report(r: dict[str, Any]) -> None:
    peak = f"{r['bf16_peak_tflops']:.0f} TFLOP/s bf16 peak" if r["bf16_peak_tflops"] else "no peak known: MFU n/a"
    mem = "GiB allocated (peak)" if r["device_kind"] == "cuda" else "GiB process max RSS"
    print(f"# gpu bench, {r['date']}\n{r['device']} ({r['device_kind']}), {peak}, torch {r['torch']}, "
          f"{r['steps']} steps")
    print(f"| model | res | variant | batch | s/image | steps/s | {mem} | UNet TFLOP/step | TFLOP/s | MFU |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for x in r["rows"]:
        if "note" in x:
            print(f"| {x['model']} | | {x['variant']} | | {x['note']} | | | | | |")
            continue
        print(f"| {x['model']} | {x['resolution']}² | {x['variant']} | {x['batch']} | {x['s_per_image']:.3f} | "
              f"{x['steps_per_s']:.2f} | {x['peak_mem_gib']:.2f} | {_fmt(x['unet_tflop_per_step'], '.4g')} | "
              f"{_fmt(x['unet_tflops_achieved'], '.4g')} | {_fmt(x['mfu'] and 100 * x['mfu'], '.1f')}"
              f"{'%' if x['mfu'] else ''} |")


if __name__ == "__main__":
    main()
