"""Measure what DUET buys: prefill latency, training-step time, KV-cache and activation memory, against `full`.

All numbers are ratios measured in one run on one machine (never thresholds checked by tests). The model is a
random LLaVA with LLaVA-1.5's geometry where it matters for the method — 32 decoder layers (so the paper's stage
layers 16 / 24 exist), 576 patch tokens per image — and a width that fits the machine (`--hidden`; use
`--hidden 4096 --intermediate 11008 --heads 32` on a GPU for the 7B shape). The vision tower is a small CLIP at
336 px: V2V's cost is in the tower's select layer, which every setting runs.

    python bench/bench_duet.py                       # CPU defaults, a few minutes on 2 cores
    python bench/bench_duet.py --device cuda --dtype bfloat16 --hidden 4096 --intermediate 11008 --heads 32
"""

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import duet
from duet.budget import layer_averaged_budget, predicted_speedup
from duet.config import DuetConfig
from duet.flops import ModelShape
from llava.mm_utils import tokenizer_image_token
from llava.testing.tiny_llava import build_tiny_llava, random_images

PRESETS = ("full", "llava-1.5:192", "llava-1.5:128", "llava-1.5:64", "visionzip:64", "pdrop:64")


@dataclass
class Measurement:
    preset: str
    budget: float
    predicted: float
    prefill_s: float
    train_s: float
    kv_bytes: int
    saved_bytes: int


def _median_time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _kv_bytes(cache) -> int:
    return sum(layer.keys.numel() * layer.keys.element_size() * 2 for layer in cache.layers if layer.is_initialized)


def _saved_activation_bytes(step: Callable[[], torch.Tensor]) -> int:
    """Bytes of tensors autograd keeps for backward during one forward (deterministic, device-independent)."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=688)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--attn", default="sdpa")
    parser.add_argument("--preset", action="append", help=f"repeatable; default {', '.join(PRESETS)}")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    tiny = build_tiny_llava(
        seed=0,
        attn_implementation=args.attn,
        llama_overrides={
            "hidden_size": args.hidden,
            "intermediate_size": args.intermediate,
            "num_attention_heads": args.heads,
            "num_key_value_heads": args.heads,
            "num_hidden_layers": args.layers,
        },
    )
    model = tiny.model.to(device=args.device, dtype=dtype)
    shape = ModelShape(args.layers, args.hidden, args.intermediate, args.heads, args.heads, args.hidden // args.heads)
    words = " ".join(["shape"] * args.text_tokens)
    ids = torch.tensor([tokenizer_image_token(f"USER: <image>\n{words} ASSISTANT:", tiny.tokenizer)] * args.batch)
    ids = ids.to(args.device)
    images = random_images(args.batch).to(device=args.device, dtype=dtype)
    labels = ids.clone().masked_fill(ids < 0, -100)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    results = []
    for name in args.preset or PRESETS:
        config = DuetConfig.from_preset(name)
        if config.query == "salient":  # no question parsing in a synthetic benchmark: the released-code queries
            config = DuetConfig(**{**config.to_dict(), "query": "instruction"})
        duet.apply(model, config)

        def prefill() -> object:
            with torch.no_grad():
                return model(input_ids=ids, images=images, use_cache=True)

        def train_step() -> torch.Tensor:
            loss = model(input_ids=ids, images=images, labels=labels).loss
            loss.backward()
            model.zero_grad(set_to_none=True)
            return loss

        def forward_only() -> torch.Tensor:
            return model(input_ids=ids, images=images, labels=labels).loss

        kv = _kv_bytes(prefill().cache)
        model.train()
        saved = _saved_activation_bytes(forward_only)
        train_s = _median_time(train_step, args.repeats, sync)
        model.eval()
        prefill_s = _median_time(prefill, args.repeats, sync)
        preset = duet.get_preset(name)
        results.append(
            Measurement(
                preset=name,
                budget=layer_averaged_budget(config, args.layers, preset.patches_per_image),
                predicted=predicted_speedup(config, shape, preset.patches_per_image, text_tokens=len(ids[0]) - 1),
                prefill_s=prefill_s,
                train_s=train_s,
                kv_bytes=kv,
                saved_bytes=saved,
            )
        )
        print(f"measured {name}", flush=True)

    base = results[0]
    print(
        f"\nbench_duet: {args.layers} layers, hidden {args.hidden}, batch {args.batch}, {args.device} {args.dtype}, "
        f"{args.attn}, median of {args.repeats}"
    )
    header = f"{'preset':<15}{'avg vis tok':>12}{'FLOPs speedup':>15}{'prefill x':>11}{'train step x':>14}{'KV cache':>10}{'activations':>13}"
    print(header)
    for r in results:
        print(
            f"{r.preset:<15}{r.budget:>12.2f}{r.predicted:>14.2f}x{base.prefill_s / r.prefill_s:>10.2f}x"
            f"{base.train_s / r.train_s:>13.2f}x{r.kv_bytes / base.kv_bytes:>10.2f}{r.saved_bytes / base.saved_bytes:>13.2f}"
        )
    print("x = speedup over full (higher is better); KV cache and activations = fraction of full (lower is better)")


if __name__ == "__main__":
    main()
