"""Measure what DUET buys against `full` and against its peers at equal budgets, on either host.

Every number is a ratio to `full` measured in the same run on the same machine (never a threshold in a test):
prefill at batch 1 and 8, a training step (forward + backward), decode steps, peak memory of a prefill and of a
training step, and the KV cache, next to the FLOPs-predicted prefill speedup. Each timing is the median of
``--repeats`` runs after ``--warmup`` untimed ones; the spread is (max − min) / median.

    python bench/bench_duet.py                                   # CPU defaults: 32 layers x 512 wide (~7 min)
    python bench/bench_duet.py --all                             # and every peer at 192 / 128 / 64 too
    python bench/bench_duet.py --host hf                          # transformers' LlavaForConditionalGeneration
    python bench/bench_duet.py --json out.json --markdown out.md --plot out.png
    python bench/bench_duet.py --device cuda --dtype bfloat16 --hidden 4096 --intermediate 11008 --heads 32 \\
        --kv-heads 32 --attn sdpa                                # LLaVA-1.5-7B's layer shape on a GPU
    python bench/bench_duet.py --profile llava-1.5:64 --profile visionzip:64   # where a prefill spends its time
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` and the repository's packages

from bench.measure import kv_cache_bytes, peak_allocated_bytes, synchronizer, time_call  # noqa: E402
from bench.report import PresetResult, format_checks, markdown_table, target_checks, write_outputs  # noqa: E402
from bench.scoring_memory import scoring_memory_line  # noqa: E402
from bench.workload import Batch, Shape, Workload  # noqa: E402
from duet.budget import layer_averaged_budget, n0, predicted_speedup  # noqa: E402
from duet.flops import ModelShape  # noqa: E402

PRESETS = (
    "full",
    "llava-1.5:192", "llava-1.5:128", "llava-1.5:64",
    "visionzip:192", "visionzip:128", "visionzip:64",
    "pdrop:192", "pdrop:128", "pdrop:64",
    "fastv:192", "fastv:128", "fastv:64",
)  # fmt: skip
DEFAULT_PRESETS = ("full", "llava-1.5:192", "llava-1.5:128", "llava-1.5:64", "visionzip:64", "pdrop:64", "fastv:64")
"""Every DUET preset and each peer at the hardest budget: 7 minutes on 2 idle CPU cores (`--all`: 12)."""
PATCHES = 576


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", choices=("llava", "hf"), default="llava", help="our LLaVA-1.5 or transformers' LLaVA")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--intermediate", type=int, default=1376)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--text-tokens", type=int, default=64, help="mean text tokens per prompt (a batch of b varies by ±b)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="prefill batch sizes")
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--decode-steps", type=int, default=16, help="decode steps timed after each prefill")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--attn", default="sdpa", help="sdpa, eager or flash_attention_2")
    parser.add_argument("--preset", action="append", help=f"repeatable; default: {', '.join(DEFAULT_PRESETS)}")
    parser.add_argument("--all", action="store_true", help=f"every preset: {', '.join(PRESETS)}")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--markdown", help="write the table and the target checks as markdown here")
    parser.add_argument("--plot", help="write a PNG of speedup against visual tokens here")
    parser.add_argument("--profile", action="append", help="print the top operators of one batch prefill of PRESET")
    return parser


def _prefill(workload: Workload, batch: Batch):
    with torch.no_grad():
        return workload.model(**batch.inputs, use_cache=True, logits_to_keep=1)


def _train_step(workload: Workload, batch: Batch) -> None:
    workload.model.train()
    loss = workload.model(**batch.inputs, labels=batch.labels).loss
    loss.backward()
    workload.model.zero_grad(set_to_none=True)
    workload.model.eval()


def _decode_time(workload: Workload, batch: Batch, steps: int, warmup: int, repeats: int, sync) -> object:
    """Median seconds of ``steps`` decode steps after a prefill (each repetition starts from a fresh prefill)."""
    model, mask = workload.model, batch.inputs["attention_mask"]

    def prepare():
        out = _prefill(workload, batch)
        return out.cache, out.logits[:, -1:].argmax(dim=-1)

    def run(state) -> None:
        cache, token = state
        running = mask
        with torch.no_grad():
            for _ in range(steps):
                running = torch.cat([running, torch.ones_like(running[:, :1])], dim=1)
                positions = running.sum(dim=1, keepdim=True) - 1
                out = model(input_ids=token, attention_mask=running, position_ids=positions, cache=cache, use_cache=True)
                cache, token = out.cache, out.logits[:, -1:].argmax(dim=-1)

    states = iter([prepare() for _ in range(warmup + repeats)])
    return time_call(lambda: run(next(states)), warmup, repeats, sync)


def measure(workload: Workload, preset: str, args: argparse.Namespace, shape: ModelShape) -> PresetResult:
    config = workload.configure(preset)
    sync = synchronizer(args.device)
    batches = {str(b): workload.batch(b, args.text_tokens, seed=b) for b in args.batches}
    train = workload.batch(args.train_batch, args.text_tokens, seed=99)
    big = batches[str(max(args.batches))]
    prefill = {b: time_call(lambda batch=batch: _prefill(workload, batch), args.warmup, args.repeats, sync) for b, batch in batches.items()}
    train_time = time_call(lambda: _train_step(workload, train), args.warmup, args.repeats, sync)
    decode = _decode_time(workload, big, args.decode_steps, args.warmup, args.repeats, sync)
    return PresetResult(
        preset=preset,
        avg_tokens=layer_averaged_budget(config, args.layers, PATCHES),
        n0=n0(config, PATCHES),
        predicted_prefill_speedup=predicted_speedup(config, shape, PATCHES, text_tokens=big.padded_text_tokens),
        prefill=prefill,
        train_step=train_time,
        decode_step=decode,
        peak_prefill_bytes=peak_allocated_bytes(lambda: _prefill(workload, big), args.device),
        peak_train_bytes=peak_allocated_bytes(lambda: _train_step(workload, train), args.device),
        kv_cache_bytes=kv_cache_bytes(_prefill(workload, big).cache),
    )


def profile_prefill(workload: Workload, preset: str, args: argparse.Namespace) -> str:
    from torch.profiler import ProfilerActivity, profile

    workload.configure(preset)
    batch = workload.batch(max(args.batches), args.text_tokens, seed=0)
    _prefill(workload, batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _prefill(workload, batch)
    return f"== {preset}: one batch-{max(args.batches)} prefill ==\n" + prof.key_averages().table(
        sort_by="self_cpu_time_total", row_limit=15
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"{cpu}, {torch.get_num_threads()} threads"
    return f"{device}; torch {torch.__version__}"


def main() -> None:
    args = _parser().parse_args()
    dtype = getattr(torch, args.dtype)
    model_shape = Shape(args.layers, args.hidden, args.intermediate, args.heads, args.kv_heads)
    flops_shape = ModelShape(args.layers, args.hidden, args.intermediate, args.heads, args.kv_heads, args.hidden // args.heads)
    workload = Workload(args.host, model_shape, args.attn, args.device, dtype)
    if args.profile:
        for preset in args.profile:
            print(profile_prefill(workload, preset, args))
        return
    presets = args.preset or list(PRESETS if args.all else DEFAULT_PRESETS)
    if presets[0] != "full":
        presets = ["full", *[p for p in presets if p != "full"]]
    results = []
    for preset in presets:
        results.append(measure(workload, preset, args, flops_shape))
        print(f"measured {preset}", file=sys.stderr, flush=True)
    batches = [str(b) for b in args.batches]
    settings = {
        "machine": machine(), "host": args.host, "layers": args.layers, "hidden": args.hidden, "intermediate": args.intermediate, "heads": args.heads,
        "kv_heads": args.kv_heads, "text_tokens": args.text_tokens, "batches": args.batches,
        "train_batch": args.train_batch, "decode_steps": args.decode_steps, "warmup": args.warmup,
        "repeats": args.repeats, "device": args.device, "dtype": args.dtype, "attn": args.attn,
    }  # fmt: skip
    print(
        f"\nbench_duet ({args.host} host): {machine()}\n{args.layers} layers x {args.hidden} wide "
        f"({args.heads} heads), {args.text_tokens} text tokens, {args.dtype}, {args.attn}; "
        f"median of {args.repeats} after {args.warmup} warm-up\n"
    )
    print(markdown_table(results, batches))
    print("\nspeedups: higher is faster; memory and KV cache: fraction of full; (±x%) = half the spread of the timings\n")
    print(format_checks(target_checks(results, batches)))
    print("\n" + scoring_memory_line())
    write_outputs(results, settings, batches, args.json, args.markdown, args.plot)


if __name__ == "__main__":
    main()
