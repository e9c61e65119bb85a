"""Device→host synchronisations: at most one per prefill (the batch shape), none per decode step, on both hosts.

On a GPU every `tolist()`, `item()`, `bool(tensor)` or `int(tensor)` waits for the device. They are counted here on
CPU tensors with a `TorchFunctionMode`, which sees every such call whatever the device.
"""

from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode
from transformers import LlavaForConditionalGeneration

import duet
from duet.config import DuetConfig
from llava.testing.tiny_llava import build_tiny_llava, random_images
from llava.testing.tiny_llava_hf import expand_image_sentinels, save_llava_hf_layout
from tests.llava.helpers import PROMPTS, encode, pad_batch

SYNCING = {"tolist", "item", "__bool__", "__int__", "__float__", "__index__"}
TINY_DUET = DuetConfig(
    dominant=40, contextual=12, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.25), query="instruction"
)


class SyncCounter(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in SYNCING:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def _count(fn) -> tuple[int, object]:
    with torch.no_grad(), SyncCounter() as counter:
        result = fn()
    return len(counter.calls), result


@pytest.mark.parametrize("host", ["llava", "transformers"])
def test_one_sync_per_prefill_and_none_per_decode_step(host: str, tmp_path: Path) -> None:
    tiny = build_tiny_llava(seed=2)
    rows = [encode(tiny.tokenizer, p) for p in PROMPTS[:1] * 2]
    images = random_images(2, seed=1)
    if host == "llava":
        model = duet.apply(tiny.model, TINY_DUET)
        ids, mask = pad_batch([rows[0], rows[1][1:]], tiny.tokenizer.pad_token_id, "left")
        inputs = {"input_ids": ids, "attention_mask": mask, "images": images}
    else:
        model = LlavaForConditionalGeneration.from_pretrained(save_llava_hf_layout(tiny, tmp_path / "hf")).eval()
        duet.apply(model, TINY_DUET)
        hf_rows = [expand_image_sentinels(r, model.config.image_token_id, 576) for r in (rows[0], rows[1][1:])]
        ids, mask = pad_batch(hf_rows, model.config.pad_token_id, "left")
        inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": images}
    syncs, prefill = _count(lambda: model(**inputs, use_cache=True))
    assert syncs == 1
    cache, running = prefill.cache, mask
    for step in range(3):
        running = torch.cat([running, torch.ones(2, 1, dtype=running.dtype)], dim=1)
        positions = running.sum(dim=1, keepdim=True) - 1
        step_inputs = {"input_ids": torch.full((2, 1), 17 + step), "attention_mask": running,
                       "position_ids": positions, "cache": cache, "use_cache": True}  # fmt: skip
        syncs, out = _count(lambda step_inputs=step_inputs: model(**step_inputs))
        assert syncs == 0
        cache = out.cache
