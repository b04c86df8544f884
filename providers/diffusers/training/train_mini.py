"""Train imagegen-mini from scratch on procedural scenes, on CPU, and save it in the standard diffusers layout.

    python providers/diffusers/training/train_mini.py --out providers/diffusers/imagegen_diffusers/mini/weights

Three stages, all seeded: (1) a CLIP tokenizer whose vocabulary is the scene grammar's words, (2) a small
AutoencoderKL (32x32 RGB <-> 4x16x16 latents) trained to reconstruct, then its decoder alone fine-tuned for crisp
edges, (3) a CLIPTextModel and a UNet2DConditionModel (the pooled caption added to its timestep embedding) trained
jointly with the v-prediction objective and 10 % caption dropout (for classifier-free guidance). The defaults are
the recipe of the shipped weights: one run of about 48 minutes on 2 CPU cores. The result is saved with
StableDiffusionPipeline.save_pretrained every few minutes (EMA weights), so a usable model exists whenever the run
is stopped, and `training.json` next to the weights records the settings and the final metrics.
"""

# diffusers ships without complete type information (its models are not seen as nn.Modules, its constructors are
# untyped), so strict mypy would only restate that here:
# mypy: disable-error-code="attr-defined,no-untyped-call,operator,arg-type,call-overload,no-any-return"
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode  # GPT-2/CLIP byte-level alphabet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imagegen_diffusers.mini import scenes

#: Token positions of the text encoder. The longest caption of the grammar is 18 tokens with its start and end
#: tokens; CLIP's 77 would make the text encoder and cross-attention a third slower for nothing.
MAX_LENGTH = 24
SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer: CLIP byte-level BPE whose merges build every grammar word into one token.


def build_tokenizer(folder: Path) -> CLIPTokenizer:
    """Every byte is a token (so any text tokenizes) and every grammar word is one token (so captions are short)."""
    chars = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars]:
        vocab[token] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    merges: list[tuple[str, str]] = []

    def make() -> CLIPTokenizer:
        return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH, pad_token="<|endoftext|>")

    for word in scenes.vocabulary():
        # Join whatever pieces the merges so far leave; appended merges rank last, so earlier words stay whole.
        pieces = make().tokenize(word)
        left = pieces[0]
        for right in pieces[1:]:
            merges.append((left, right))
            left = left + right
            vocab.setdefault(left, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    tok = make()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok.save_pretrained(folder)
    return CLIPTokenizer.from_pretrained(folder)


def tokenize(tok: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """Exactly what StableDiffusionPipeline.encode_prompt does, so training sees what inference sees."""
    ids = tok(captions, padding="max_length", max_length=MAX_LENGTH, truncation=True, return_tensors="pt").input_ids
    return torch.as_tensor(ids)


# ---------------------------------------------------------------------------------------------------------------
# Data.


def make_dataset(n: int, seed: int) -> tuple[torch.Tensor, list[str]]:
    """n scenes outside the held-out triples: images in [-1, 1] (n, 3, 32, 32) and their captions."""
    rng = random.Random(seed)
    held = set(scenes.held_out_triples())
    images = np.empty((n, scenes.IMAGE_SIZE, scenes.IMAGE_SIZE, 3), dtype=np.uint8)
    captions: list[str] = []
    while len(captions) < n:
        scene = scenes.sample_scene(rng)
        if scenes.uses_held_out(scene, held):
            continue
        images[len(captions)] = scenes.render_array(scene)
        captions.append(scene.spec.caption)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, captions


# ---------------------------------------------------------------------------------------------------------------
# Models.


def build_vae(latent_scale: int) -> AutoencoderKL:
    """32x32 RGB <-> 4 x (32 / latent_scale)^2 latents; latent_scale 1 or 2."""
    blocks = {1: 1, 2: 2}[latent_scale]
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=(16, 32)[-blocks:] if blocks == 2 else (32,),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=scenes.IMAGE_SIZE,
        mid_block_add_attention=False,
    )


def build_text_encoder(tok: CLIPTokenizer, hidden: int) -> CLIPTextModel:
    vocab = tok.get_vocab()
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        projection_dim=hidden,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    return CLIPTextModel(config)


def build_unet(
    channels: tuple[int, ...],
    cross_dim: int,
    latent_size: int,
    groups: int,
    pooled_text: bool,
    attention_levels: int = 1,
    scale_shift: bool = False,
) -> UNet2DConditionModel:
    """One resolution level per channel count; cross-attention only at the `attention_levels` coarsest (at finer
    levels it dominates CPU time). With `pooled_text`, the caption pooled to one vector is also added to the timestep
    embedding, so every ResNet block sees it (diffusers' `addition_embed_type="text"`): global facts such as the
    background are learnt early."""
    plain = len(channels) - attention_levels
    extra: dict[str, Any] = {"addition_embed_type": "text", "addition_embed_type_num_heads": 4} if pooled_text else {}
    if scale_shift:
        extra["resnet_time_scale_shift"] = "scale_shift"
    return UNet2DConditionModel(
        **extra,
        sample_size=latent_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * attention_levels,
        up_block_types=("CrossAttnUpBlock2D",) * attention_levels + ("UpBlock2D",) * plain,
        block_out_channels=channels,
        layers_per_block=1,
        cross_attention_dim=cross_dim,
        attention_head_dim=4,
        norm_num_groups=groups,
    )


# ---------------------------------------------------------------------------------------------------------------
# Stages.


def pixel_target(x: torch.Tensor, scale: int) -> torch.Tensor:
    """What an aligned latent holds: the picture shrunk `scale` times (RGB in [-1, 1]) and its grey level (a fourth
    channel, as SD has)."""
    small = F.avg_pool2d(x, scale) if scale > 1 else x
    return torch.cat([small, small.mean(1, keepdim=True)], dim=1)


def train_vae(
    vae: AutoencoderKL,
    x: torch.Tensor,
    steps: int,
    batch: int,
    gen: torch.Generator,
    aligned: bool = False,
    detail: bool = False,
) -> float:
    """Reconstruct from a *sampled* latent, so img2img and inpaint (which sample) decode cleanly too. With `aligned`,
    the latent is also pulled onto the picture itself, so the UNet works in pixel space; with `detail` as well, the
    fourth channel is left to the VAE (kept within [-1, 1]) to carry what the shrunk picture loses, such as corners."""
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    vae.train()
    loss_value = float("nan")
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        xb = x[idx]
        posterior = vae.encode(xb).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen)
        recon = vae.decode(z).sample
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        loss = F.mse_loss(recon, xb) + 0.5 * F.l1_loss(recon, xb) + 1e-6 * kl
        if aligned:
            mean, target = posterior.mean, pixel_target(xb, xb.shape[-1] // posterior.mean.shape[-1])
            if detail:
                loss = loss + F.mse_loss(mean[:, :3], target[:, :3]) + F.relu(mean[:, 3].abs() - 1).pow(2).mean()
            else:
                loss = loss + F.mse_loss(mean, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_value = float(loss)
        if step % 200 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss_value:.5f} mean logvar {float(posterior.logvar.mean()):.2f}")
    vae.eval()
    return loss_value


def finetune_decoder(vae: AutoencoderKL, x: torch.Tensor, steps: int, batch: int, gen: torch.Generator) -> float:
    """Sharpen the decoder on the frozen encoder's latents: the latent space (and any UNet trained on it) stays
    valid, while edges and square corners come back crisp. Returns the last loss."""
    with torch.no_grad():
        posteriors = [vae.encode(x[i : i + 512]).latent_dist for i in range(0, len(x), 512)]
    mean = torch.cat([p.mean for p in posteriors])
    std = torch.cat([p.std for p in posteriors])
    for param in vae.parameters():
        param.requires_grad_(False)
    trained = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    for param in trained:
        param.requires_grad_(True)
    opt = torch.optim.AdamW(trained, lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    vae.decoder.train()
    loss_value = float("nan")
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        z = mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)
        recon = vae.decode(z).sample
        loss = F.mse_loss(recon, x[idx]) + 0.5 * F.l1_loss(recon, x[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_value = float(loss)
        if step % 250 == 0 or step == steps - 1:
            log(f"decoder step {step}/{steps} loss {loss_value:.5f}")
    for param in vae.parameters():
        param.requires_grad_(True)
    vae.eval()
    return loss_value


def dropout_rates(t: torch.Tensor, rate: float, low_noise_rate: float | None, below: int) -> torch.Tensor:
    """Each sample's chance of training on the empty caption: `rate`, or `low_noise_rate` at timesteps below `below`."""
    rates = torch.full(t.shape, rate)
    if low_noise_rate is not None:
        rates[t < below] = low_noise_rate
    return rates


@torch.no_grad()
def encode_all(vae: AutoencoderKL, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([vae.encode(x[i : i + 512]).latent_dist.mean for i in range(0, len(x), 512)])


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm, 1.0 - decay)


def save(
    folder: Path,
    vae: AutoencoderKL,
    text: CLIPTextModel,
    tok: CLIPTokenizer,
    unet: UNet2DConditionModel,
    aligned: bool,
) -> None:
    scheduler = DPMSolverMultistepScheduler(**SCHEDULER)
    # clip_sample stays off (StableDiffusionPipeline turns it off anyway: scaled latents are not in [-1, 1]). Aligned
    # latents are the picture's colours in [-1, 1], so there every sampler that can threshold clips its x0 estimate
    # to that range (Imagen's static thresholding: the threshold never grows past sample_max_value 1), which keeps
    # high guidance from overshooting into colours no picture has.
    scheduler.register_to_config(clip_sample=False, thresholding=aligned, sample_max_value=1.0)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    # transformers 5 saves tokenizer.json alone; carry the BPE files over from the folder the tokenizer came from
    source, target = Path(tok.name_or_path), folder / "tokenizer"
    for name in ("vocab.json", "merges.txt"):
        if (source / name).is_file() and (source / name).resolve() != (target / name).resolve():
            shutil.copyfile(source / name, target / name)


def reproduce_command(parser: argparse.ArgumentParser, args: argparse.Namespace, stop_after: int) -> str:
    """The command that trains the same weights again whatever the machine's speed: every setting that differs
    from its default, and the step the wall-clock budget stopped at instead of the budget."""
    defaults = vars(parser.parse_args(["--out", "OUT"]))
    given = {**vars(args), "out": "OUT", "stop_after": stop_after, "budget_min": 1e9}
    if given["resume"] is not None:
        given["resume"] = "PREVIOUS_OUT"
    words = [f"python {Path(__file__).name}"]
    for name, value in given.items():
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        default = defaults[name]
        if name != "out" and values == (list(default) if isinstance(default, (list, tuple)) else [default]):
            continue
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{flag[2:]}")
            continue
        shown = (f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        words.append(f"{flag} " + " ".join(shown))
    return " ".join(words)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=30000)
    p.add_argument("--vae-steps", type=int, default=2000)
    p.add_argument("--vae-batch", type=int, default=32)
    p.add_argument(
        "--decoder-steps",
        type=int,
        default=1000,
        help="then fine-tune the VAE decoder alone (the latents stay the same)",
    )
    p.add_argument("--steps", type=int, default=8500)
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--channels", type=int, nargs="+", default=(32, 64), help="UNet channels, one per resolution level")
    p.add_argument(
        "--latent-scale",
        type=int,
        choices=(1, 2),
        default=2,
        help="how much the VAE downsamples: 2 gives 16x16 latents; 1 keeps 32x32 (slower, square corners stay crisp)",
    )
    p.add_argument(
        "--aligned-latents",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="latents are the picture itself, shrunk --latent-scale times, plus its grey level: samplers can clip them "
        "to [-1, 1], so high guidance saturates colours instead of leaving the decoder's range",
    )
    p.add_argument(
        "--detail-channel",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="with --aligned-latents: the fourth latent channel is learnt (what the shrunk picture loses, such as "
        "corners) instead of the grey level",
    )
    p.add_argument(
        "--frozen-text",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep the text encoder at its seeded random initialisation (its words stay apart) and train only "
        "the UNet",
    )
    p.add_argument(
        "--time-scale-shift",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the timestep (and pooled caption) embedding scales and shifts every ResNet's features instead of only "
        "shifting them (AdaGN)",
    )
    p.add_argument("--norm-groups", type=int, default=32, help="UNet GroupNorm groups (must divide every --channels)")
    p.add_argument("--attention-levels", type=int, default=1, help="UNet levels, coarsest first, with cross-attention")
    p.add_argument(
        "--pooled-text",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also add the pooled caption to the UNet's timestep embedding",
    )
    p.add_argument(
        "--beta-schedule",
        choices=("linear", "squaredcos_cap_v2"),
        default="linear",
        help="noise schedule; the cosine one spends fewer steps on near-pure noise (better for small pictures)",
    )
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--caption-dropout", type=float, default=0.1)
    p.add_argument(
        "--low-noise-dropout",
        type=float,
        default=None,
        help="caption dropout below --low-noise-below instead: there the picture already shows what the caption says, "
        "so a well-trained unconditional prediction agrees with the conditional one and guidance stops overshooting "
        "shapes it has already drawn (measured on the 2026-11-25 weights: guidance 7 for the first 8 of 20 steps "
        "scored shape 0.88, for all 20 steps 0.54)",
    )
    p.add_argument(
        "--low-noise-below", type=int, default=600, help="the timestep below which --low-noise-dropout applies"
    )
    p.add_argument(
        "--min-snr", type=float, default=5.0, help="Min-SNR-gamma loss weighting (0: plain MSE); converges faster"
    )
    p.add_argument(
        "--snr-floor",
        type=float,
        default=0.0,
        help="with --min-snr: weigh the x0 error at least this much at high noise, where Min-SNR alone weighs it ~0 "
        "and the background colour and layout (decided there) are learnt slowly",
    )
    p.add_argument("--budget-min", type=float, default=58.0, help="stop the UNet stage early past this wall time")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument(
        "--stop-after", type=int, default=None, help="stop after N UNet steps (LR schedule still spans --steps)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", type=Path, default=None, help="continue the text encoder and UNet of this folder")
    p.add_argument("--data-seed", type=int, default=0, help="with --resume: the seed the first stage's data came from")
    p.add_argument(
        "--prediction-type",
        choices=("epsilon", "v_prediction"),
        default="v_prediction",
        help="v keeps the x0 estimate bounded at high noise, where epsilon's blows up and garbles the background",
    )
    args = p.parse_args(argv)
    if args.resume is not None:
        # A later stage keeps what the saved model was trained with; its scheduler config says so.
        saved = json.loads((args.resume / "scheduler" / "scheduler_config.json").read_text())
        args.prediction_type, args.beta_schedule = saved["prediction_type"], saved["beta_schedule"]
        args.aligned_latents = bool(saved.get("thresholding"))
    SCHEDULER["prediction_type"] = args.prediction_type
    SCHEDULER["beta_schedule"] = args.beta_schedule

    start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["channels"] = list(args.channels)
    record: dict[str, Any] = {
        "settings": settings,
        "scheduler": SCHEDULER,
        "held_out_triples": [list(t) for t in scenes.held_out_triples()],
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()},
    }

    x, captions = make_dataset(args.n_train, args.seed if args.resume is None else args.data_seed)
    log(f"data set: {len(x)} scenes, e.g. {captions[:3]}")
    if args.resume is None:
        tok = build_tokenizer(out / "tokenizer")
        vae = build_vae(args.latent_scale)
        vae_loss = train_vae(
            vae, x, args.vae_steps, args.vae_batch, gen, aligned=args.aligned_latents, detail=args.detail_channel
        )
        text = build_text_encoder(tok, args.hidden)
        latent_side = scenes.IMAGE_SIZE // args.latent_scale
        unet = build_unet(
            tuple(args.channels),
            args.hidden,
            latent_side,
            args.norm_groups,
            args.pooled_text,
            args.attention_levels,
            args.time_scale_shift,
        )
    else:
        # A later stage: same data, same tokenizer and VAE, the text encoder and UNet continue from the folder.
        previous = args.resume / "training.json"
        if previous.exists():
            earlier = json.loads(previous.read_text())
            record["previous_stages"] = [*earlier.pop("previous_stages", []), earlier]
        tok = CLIPTokenizer.from_pretrained(args.resume / "tokenizer")
        vae = AutoencoderKL.from_pretrained(args.resume / "vae").eval()
        text = CLIPTextModel.from_pretrained(args.resume / "text_encoder")
        unet = UNet2DConditionModel.from_pretrained(args.resume / "unet")
        vae_loss = None  # trained in the first stage; see previous_stages
        vae.register_to_config(scaling_factor=1.0)
    decoder_loss = finetune_decoder(vae, x, args.decoder_steps, args.vae_batch, gen) if args.decoder_steps else None
    bad = [w for w in scenes.vocabulary() if len(tok(w, add_special_tokens=False).input_ids) != 1]
    log(f"tokenizer: {len(tok.get_vocab())} tokens; words split into several tokens: {bad}")
    with torch.no_grad():
        recon = vae.decode(encode_all(vae, x[:512])).sample.clamp(-1, 1)
        vae_psnr = float(10 * torch.log10(4.0 / F.mse_loss(recon, x[:512])))
    latents = encode_all(vae, x)
    # Pixel-space latents keep the picture's own scale, so [-1, 1] stays the range samplers clip to.
    scaling = 1.0 if args.aligned_latents else float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scaling)
    latents = latents * scaling
    log(f"vae: train loss {vae_loss}, psnr {vae_psnr:.1f} dB, scaling_factor {scaling:.4f}")
    ids = tokenize(tok, captions)
    empty = tokenize(tok, [""])[0]

    n_params = {
        "unet": sum(p.numel() for p in unet.parameters()),
        "text_encoder": sum(p.numel() for p in text.parameters()),
        "vae": sum(p.numel() for p in vae.parameters()),
    }
    log(f"parameters: {n_params}")
    ema_unet = copy.deepcopy(unet).eval()
    noise_sched = DDPMScheduler(**SCHEDULER)
    snr = noise_sched.alphas_cumprod / (1 - noise_sched.alphas_cumprod)
    if args.frozen_text:
        # A frozen encoder keeps every word's features as far apart as they start; trained jointly, "square" and
        # "circle" drift together while the UNet still draws both as blobs (measured: cosine 0.53 after 5000 steps,
        # other words stay near 0), and squares were never learnt. Its outputs are then fixed: computed once.
        text.requires_grad_(False).eval()
        with torch.no_grad():
            encoded = torch.cat([text(ids[i : i + 1024])[0] for i in range(0, len(ids), 1024)])
            encoded_empty = text(empty[None])[0][0]
        ema_text, params = text, list(unet.parameters())
    else:
        ema_text, params = copy.deepcopy(text).eval(), list(unet.parameters()) + list(text.parameters())
        text.train()
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    warmup = 200 if args.resume is None else 20

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    unet.train()
    stage_start = time.time()
    losses: list[float] = []
    step = 0
    stopped_early = False
    for step in range(args.steps):
        idx = torch.randint(0, len(latents), (args.batch,), generator=gen)
        lat = latents[idx]
        # (drawn in this order so that earlier recorded runs reproduce)
        coin = torch.rand(args.batch, generator=gen)
        noise = torch.randn(lat.shape, generator=gen)
        t = torch.randint(0, SCHEDULER["num_train_timesteps"], (args.batch,), generator=gen)
        drop = coin < dropout_rates(t, args.caption_dropout, args.low_noise_dropout, args.low_noise_below)
        if args.frozen_text:
            cond = encoded[idx].clone()
            cond[drop] = encoded_empty
        else:
            tokens = ids[idx].clone()
            tokens[drop] = empty
            cond = text(tokens)[0]
        noisy = noise_sched.add_noise(lat, noise, t)
        pred = unet(noisy, t, encoder_hidden_states=cond).sample
        target = noise if SCHEDULER["prediction_type"] == "epsilon" else noise_sched.get_velocity(lat, noise, t)
        per_sample = ((pred - target) ** 2).mean(dim=(1, 2, 3))
        if args.min_snr:  # Min-SNR-gamma (Hang et al. 2023): stop easy low-noise steps from dominating
            v_target = SCHEDULER["prediction_type"] == "v_prediction"
            weight = snr[t].clamp(min=args.snr_floor, max=args.min_snr) / (snr[t] + (1 if v_target else 0))
            per_sample = per_sample * weight
        loss = per_sample.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        lr_sched.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        ema_update(ema_unet, unet, decay)
        if not args.frozen_text:
            ema_update(ema_text, text, decay)
        losses.append(float(loss))
        if step % 100 == 0:
            rate = (step + 1) / (time.time() - stage_start)
            log(f"step {step}/{args.steps} loss(avg100) {np.mean(losses[-100:]):.4f} {rate:.2f} it/s")
        if (step + 1) % args.save_every == 0:
            save(out, vae, ema_text, tok, ema_unet, args.aligned_latents)
            record["checkpoint_step"] = step + 1
            (out / "training.json").write_text(json.dumps(record, indent=2))
            log(f"checkpoint saved at step {step + 1}")
        if args.stop_after is not None and step + 1 >= args.stop_after:
            break
        if time.time() - start > args.budget_min * 60:
            stopped_early = True
            log(f"wall-clock budget reached at step {step + 1}")
            break

    save(out, vae, ema_text, tok, ema_unet, args.aligned_latents)
    record.update(
        {
            "checkpoint_step": step + 1,
            "stopped_early_by_budget": stopped_early,
            # The same weights again (up to CPU floating-point nondeterminism), whatever the machine's speed:
            "reproduce": reproduce_command(p, args, stop_after=step + 1),
            "metrics": {
                "vae_train_loss": vae_loss,
                "decoder_finetune_loss": decoder_loss,
                "vae_psnr_db": vae_psnr,
                "vae_scaling_factor": scaling,
                "unet_loss_last_500_steps": float(np.mean(losses[-500:])),
                "parameters": n_params,
                "unet_steps_per_second": (step + 1) / (time.time() - stage_start),
                "wall_clock_minutes": (time.time() - start) / 60,
            },
        }
    )
    (out / "training.json").write_text(json.dumps(record, indent=2))
    log(f"done: {record['metrics']}")
    return record


if __name__ == "__main__":
    main()
