"""End-of-run throughput log: questions and generated tokens per second, and the visual-token schedule.

The authors' loaders log "questions answered per GPU per second"; the token schedule (from the model's DUET config
and geometry, via `duet.budget`) states what budget the numbers were measured at, so a log line alone identifies
the setting: e.g. "layers 1-16: 102, 17-24: 51, 25-32: 0 (mean 63.75, N0 102)".
"""

import sys
import time
from dataclasses import dataclass, field

from duet.budget import visual_tokens_per_layer
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM


def format_schedule(per_layer: list[int]) -> str:
    """Run-length form of a per-layer count list: `[4, 4, 2, 0]` → "layers 1-2: 4, 3: 2, 4: 0"."""
    runs: list[str] = []
    start = 0
    for i in range(1, len(per_layer) + 1):
        if i == len(per_layer) or per_layer[i] != per_layer[start]:
            span = f"{start + 1}" if i - start == 1 else f"{start + 1}-{i}"
            runs.append(f"{span}: {per_layer[start]}")
            start = i
    return "layers " + ", ".join(runs)


def visual_token_summary(model: LlavaLlamaForCausalLM) -> str:
    """Visual tokens per decoder layer for one image under the model's active DUET setting."""
    num_layers, patches = model.duet_geometry()
    per_layer = visual_tokens_per_layer(model.duet, num_layers, patches)
    mean = sum(per_layer) / num_layers
    return f"{format_schedule(per_layer)} (mean {mean:g}, N0 {per_layer[0]})"


@dataclass
class ThroughputMeter:
    """Counts answered questions and generated tokens from construction (after model loading) to `log`."""

    questions: int = 0
    new_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, questions: int, new_tokens: int) -> None:
        self.questions += questions
        self.new_tokens += new_tokens

    def log(self, model: LlavaLlamaForCausalLM) -> str:
        """Print the two throughput lines to stderr (stdout may carry answers) and return them."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        text = (
            f"[throughput] {self.questions} questions in {elapsed:.1f} s: {self.questions / elapsed:.3f} questions/s, "
            f"{self.new_tokens / elapsed:.1f} generated tokens/s\n"
            f"[throughput] visual tokens per image: {visual_token_summary(model)}"
        )
        print(text, file=sys.stderr, flush=True)
        return text
