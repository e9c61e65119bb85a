"""DUET on video: per-frame V2V and joint all-frame T2V against naive references written from paper.md §2."""

import math

import pytest
import torch

from duet.config import DuetConfig
from llava.constants import IMAGE_TOKEN_INDEX
from llava.testing.tiny_video_llava import build_tiny_video_llava
from tests.duet.test_duet_v2v import naive_v2v

FRAMES, PER_FRAME = 8, 257
# Small per-frame V2V (20 + 7 = 27 tokens per frame, N0 = 216) and two T2V stages the 4-layer tiny decoder can hold.
TINY_VIDEO_DUET = DuetConfig(
    dominant=20, contextual=7, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.25), query="last"
)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_video_llava(seed=5)


def video(seed: int) -> torch.Tensor:
    """(3, T, H, W): frames that differ, so that each frame ranks its own patches."""
    return torch.randn(3, FRAMES, 224, 224, generator=torch.Generator().manual_seed(seed))


def prompt(tiny) -> torch.Tensor:
    ids = tiny.tokenizer("USER: what is moving in the video? ASSISTANT:").input_ids
    return torch.tensor([ids[:3] + [IMAGE_TOKEN_INDEX] * FRAMES + ids[3:]])


def eager_select_layer(tower, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From an eager run of the tower (temporal attention on): the select layer's output, its spatial attention
    maps, and the exact input its spatial attention saw (captured by a hook, not recomputed)."""
    eager = type(tower.model)._from_config(tower.config, attn_implementation="eager").eval()
    eager.load_state_dict(tower.model.state_dict())
    index = eager.config.num_hidden_layers - 2  # the encoder layer producing hidden_states[-2]
    seen: dict[str, torch.Tensor] = {}

    def capture(module, args, kwargs) -> None:
        seen["normed"] = kwargs["hidden_states"]

    hook = eager.encoder.layers[index].self_attn.register_forward_pre_hook(capture, with_kwargs=True)
    with torch.no_grad():
        out = eager(frames, output_hidden_states=True, output_attentions=True)
    hook.remove()
    return out.hidden_states[index + 1], out.attentions[index], seen["normed"]


def test_v2v_ranks_each_frame_by_its_own_cls_row(tiny) -> None:
    tower = tiny.model.get_video_tower()
    assert tower.model.temporal_attention
    frames = video(0).transpose(0, 1)  # (T, C, H, W)
    with torch.no_grad():
        result = tower.forward_v2v(frames, TINY_VIDEO_DUET)
    hidden, attentions, normed = eager_select_layer(tower, frames)
    layer = tower.model.encoder.layers[-2]
    heads = layer.self_attn.num_heads
    keys = layer.self_attn.k_proj(normed).view(FRAMES, PER_FRAME, heads, -1).mean(dim=2)
    sources = []
    for t in range(FRAMES):
        scores = attentions[t, :, 0, 1:].sum(dim=0)  # this frame's CLS row, summed over heads
        tokens, source, _ = naive_v2v(hidden[t], scores, keys[t], 20, 7, 4, "duet")
        torch.testing.assert_close(result.tokens[t].double(), tokens, rtol=1e-4, atol=1e-4)
        assert result.source_index[t].tolist() == source
        sources.append(tuple(source))
    assert len(set(sources)) > 1  # frames keep different patches: each is ranked on its own
    assert result.tokens.shape == (FRAMES, 27, tower.hidden_size)


@torch.no_grad()
def naive_joint_keep(tiny, ids: torch.Tensor, images: list[torch.Tensor], visual: torch.Tensor) -> set[int]:
    """paper.md §2.2 for one sample: hidden states after stage layer 2, layer 3's q/k by hand, the last prompt token
    as the only query (query="last"), all visual positions of all frames ranked together, keep int(N0 · 0.5)."""
    model = tiny.model
    saved = model.model.duet
    model.model.duet = DuetConfig(dominant=20, contextual=7, cluster_width=4)  # V2V only: the LLM sees every token
    out = model(input_ids=ids, images=images, output_hidden_states=True)
    model.model.duet = saved
    hidden = out.hidden_states[2][0]
    layer = model.model.layers[2]
    config = model.config
    x = layer.input_layernorm(hidden)
    heads, kv_heads, head_dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    length = x.shape[0]
    q = layer.self_attn.q_proj(x).view(length, heads, head_dim)
    k = layer.self_attn.k_proj(x).view(length, kv_heads, head_dim)
    inv_freq = 1.0 / (config.rope_parameters["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.arange(length).float()[:, None] * inv_freq[None]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)

    def rope(t: torch.Tensor) -> torch.Tensor:
        half = t.shape[-1] // 2
        return t * cos[:, None] + torch.cat([-t[..., half:], t[..., :half]], -1) * sin[:, None]

    q, k = rope(q), rope(k)
    row = length - 1
    scores = torch.zeros(length, dtype=torch.float64)
    for h in range(heads):
        logits = torch.tensor(
            [float(q[row, h] @ k[col, h // (heads // kv_heads)]) / math.sqrt(head_dim) for col in range(length)]
        )
        scores += torch.softmax(logits.double(), dim=0) / heads
    positions = visual[0].nonzero().flatten().tolist()
    ranked = sorted(positions, key=lambda p: (-float(scores[p]), p))
    return set(ranked[: int(len(positions) * 0.5)])


def test_t2v_ranks_all_frames_jointly(tiny) -> None:
    model = tiny.model
    model.enable_duet(TINY_VIDEO_DUET)
    ids, clip = prompt(tiny), video(1)
    try:
        with torch.no_grad():
            out = model(input_ids=ids, images=[clip])
        visual = out.visual_token_mask
        n0 = int(visual.sum())
        assert n0 == FRAMES * 27
        kept = set(out.t2v_keep_masks[0][0].nonzero().flatten().tolist())
        assert len(kept) == int(n0 * 0.5)
        assert int(out.t2v_keep_masks[1][0].sum()) == int(n0 * 0.25)  # ratios are of the whole video's N0
        assert kept == naive_joint_keep(tiny, ids, [clip], visual)
    finally:
        model.enable_duet(None)
    first = int(visual[0].nonzero()[0])
    frames_hit = {(p - first) // 27 for p in kept}
    assert len(frames_hit) > 1, "kept tokens must come from several frames (joint ranking, not the first frame)"
