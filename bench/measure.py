"""Timing and memory primitives: medians with spread after warm-up, peak allocated bytes, KV-cache bytes.

Peak memory is read from the PyTorch profiler's allocation stream (every allocation and free, in time order), so it
counts exactly the tensors a step allocates beyond what already existed — on the CPU as on a GPU, where
`torch.cuda.max_memory_allocated` says the same.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median of the repetitions and their spread ((max − min) / median)."""

    median: float
    spread: float
    samples: tuple[float, ...]


def synchronizer(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def time_call(fn: Callable[[], object], warmup: int, repeats: int, sync: Callable[[], None]) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed."""
    for _ in range(warmup):
        fn()
        sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    return Timing(median, (max(samples) - min(samples)) / median, tuple(samples))


def peak_allocated_bytes(fn: Callable[[], object], device: str) -> int:
    """The most bytes held at once by tensors allocated during ``fn`` (its own peak, not the model's weights)."""
    activities = [ProfilerActivity.CUDA] if device.startswith("cuda") else [ProfilerActivity.CPU]
    with profile(activities=activities, profile_memory=True) as prof:
        fn()
    target = "cuda" if device.startswith("cuda") else "cpu"
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and target in str(e.device_type()).lower()),
        key=lambda e: e.start_ns(),
    )
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak


def kv_cache_bytes(cache) -> int:
    """Bytes of keys and values held by a transformers `Cache` (all layers)."""
    total = 0
    for layer in cache.layers:
        if getattr(layer, "is_initialized", False):
            total += layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
    return total
