"""The engine on a bare transformers `LlamaModel`: one stage is Llama's own forward; decode masks are transformers'."""

import pytest
import torch
from transformers import LlamaConfig, LlamaModel
from transformers.masking_utils import create_causal_mask

from duet import engine
from duet.cache import DuetCache
from duet.config import DuetConfig
from duet.tokens import compact_positions, read_batch_shape
from llava.hosts.llama_decoder import LlamaDecoderAdapter


def _llama(attn: str) -> LlamaModel:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2,
    )  # fmt: skip
    return LlamaModel._from_config(config, attn_implementation=attn).eval()


def _padded(side: str) -> tuple[torch.Tensor, torch.Tensor]:
    valid = torch.ones(3, 9, dtype=torch.bool)
    if side == "left":
        valid[1, :3], valid[2, :1] = False, False
    else:
        valid[1, 6:], valid[2, 8:] = False, False
    return torch.randn(3, 9, 32, generator=torch.Generator().manual_seed(1)), valid


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_a_single_stage_is_llamas_own_forward(attn: str, side: str) -> None:
    llama = _llama(attn)
    hidden, valid = _padded(side)
    positions = compact_positions(valid)
    expected = llama(inputs_embeds=hidden, attention_mask=valid.long(), position_ids=positions).last_hidden_state
    visual = torch.zeros_like(valid)
    batch = engine.PrefillBatch(
        hidden=hidden, valid=valid, visual=visual, queries=visual, labels=None, position_ids=positions,
        shape=read_batch_shape(valid, visual), input_length=9,
    )  # fmt: skip
    out = engine.prefill(LlamaDecoderAdapter(llama), DuetConfig(dominant=4), batch)
    torch.testing.assert_close(out.hidden[valid], expected[valid], rtol=0, atol=0)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_decode_masks_equal_transformers_masks(attn: str) -> None:
    """The reused per-stage mask is what `create_causal_mask` would build for one new token."""
    llama = _llama(attn)
    cache = DuetCache(llama.config, input_length=6)
    cache.update(torch.zeros(2, 2, 6, 8), torch.zeros(2, 2, 6, 8), 2)
    mask = torch.tensor([[False, True, True, False, True, True, True], [True] * 7])
    hidden = torch.zeros(2, 1, 32)
    expected = create_causal_mask(
        config=llama.config, inputs_embeds=hidden, attention_mask=mask, cache=cache, layer_idx=2,
        allow_is_causal_skip=False,
    )  # fmt: skip
    got = engine._decode_mask(LlamaDecoderAdapter(llama), hidden, mask, cache, 2)
    assert got.dtype == expected.dtype
    assert torch.equal(got.expand_as(expected), expected)
