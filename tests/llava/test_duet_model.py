"""DUET inside LLaVA: off equals the plain model, on equals naive references, batching and caching stay exact."""

import math

import pytest
import torch
import transformers.models.clip.modeling_clip as modeling_clip

import duet
from duet.config import DuetConfig
from llava.testing.tiny_llava import TinyLlava, build_tiny_llava, random_images
from tests.llava.helpers import IMAGE_COUNTS, PROMPTS, encode, greedy_without_cache, pad_batch

# Scaled to the tiny model (4 decoder layers, 576 patches): drop after layers 2 and 3, scored with layers 3 and 4.
TINY_DUET = DuetConfig(dominant=40, contextual=12, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.25), query="instruction")


@pytest.fixture()
def duet_model() -> TinyLlava:
    tiny = build_tiny_llava(seed=2)
    duet.apply(tiny.model, TINY_DUET)
    return tiny


def _batch(tiny: TinyLlava, side: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    rows = [encode(tiny.tokenizer, p) for p in PROMPTS]
    images = random_images(sum(IMAGE_COUNTS), seed=seed)
    per_sample = list(torch.split(images, IMAGE_COUNTS))
    ids, mask = pad_batch(rows, tiny.tokenizer.pad_token_id, side)
    return ids, mask, images, rows, per_sample


def test_full_preset_reproduces_plain_model_exactly() -> None:
    tiny = build_tiny_llava(seed=2)
    ids, mask, images, _, _ = _batch(tiny, "right", seed=1)
    plain = tiny.model(input_ids=ids, attention_mask=mask, images=images).logits
    duet.apply(tiny.model, "full")
    assert tiny.model.duet is None and tiny.model.config.duet is None
    torch.testing.assert_close(tiny.model(input_ids=ids, attention_mask=mask, images=images).logits, plain, rtol=0, atol=0)


@pytest.mark.parametrize("positions", ["compact", "keep"])
def test_batch_equals_samples_one_by_one(duet_model: TinyLlava, positions: str) -> None:
    duet.apply(duet_model.model, DuetConfig(**{**TINY_DUET.to_dict(), "position_ids": positions}))
    ids, mask, images, rows, per_sample = _batch(duet_model, "right", seed=2)
    batched = duet_model.model(input_ids=ids, attention_mask=mask, images=images)
    for i, (row, imgs) in enumerate(zip(rows, per_sample, strict=True)):
        alone = duet_model.model(input_ids=row.unsqueeze(0), images=imgs if len(imgs) else None).logits[0]
        torch.testing.assert_close(batched.logits[i, : alone.shape[0]], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("positions", ["compact", "keep"])
def test_cached_generation_equals_uncached_and_alone(duet_model: TinyLlava, positions: str) -> None:
    duet.apply(duet_model.model, DuetConfig(**{**TINY_DUET.to_dict(), "position_ids": positions}))
    ids, mask, images, rows, per_sample = _batch(duet_model, "left", seed=3)
    kwargs = {"max_new_tokens": 6, "min_new_tokens": 6, "do_sample": False}
    cached = duet_model.model.generate(ids, attention_mask=mask, images=images, **kwargs)
    assert torch.equal(cached, greedy_without_cache(duet_model.model, ids, mask, images, steps=6))
    for i, (row, imgs) in enumerate(zip(rows, per_sample, strict=True)):
        alone = duet_model.model.generate(row.unsqueeze(0), images=imgs if len(imgs) else None, **kwargs)
        assert torch.equal(alone[0], cached[i])


def test_token_counts_follow_the_budget(duet_model: TinyLlava) -> None:
    ids = encode(duet_model.tokenizer, PROMPTS[0]).unsqueeze(0)
    out = duet_model.model(input_ids=ids, images=random_images(1, seed=4))
    n0 = TINY_DUET.dominant + TINY_DUET.contextual
    assert int(out.visual_token_mask.sum()) == n0
    assert [int(m.sum()) for m in out.t2v_keep_masks] == [int(n0 * 0.5), int(n0 * 0.25)]
    # each stage keeps a subset of the previous one
    assert bool((out.t2v_keep_masks[1] <= out.t2v_keep_masks[0]).all())


def test_vision_tower_runs_no_eager_attention(duet_model: TinyLlava, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("eager attention ran in the vision tower")

    monkeypatch.setattr(modeling_clip, "eager_attention_forward", forbidden)
    tower = duet_model.model.get_vision_tower().vision_tower
    assert tower.config._attn_implementation == "sdpa"
    ids = encode(duet_model.tokenizer, PROMPTS[0]).unsqueeze(0)
    out = duet_model.model(input_ids=ids, images=random_images(1, seed=5))
    assert int(out.visual_token_mask.sum()) == TINY_DUET.dominant + TINY_DUET.contextual


def test_v2v_side_statistics_equal_eager_attention(duet_model: TinyLlava) -> None:
    """The recomputed CLS row equals the select layer's own attention map (taken from an eager run)."""
    from duet.v2v import cls_attention_stats

    tower = duet_model.model.get_vision_tower()
    pixels = random_images(2, seed=6)
    eager = type(tower.vision_tower)._from_config(tower.config, attn_implementation="eager").eval()
    eager.load_state_dict(tower.vision_tower.state_dict())
    out = eager(pixels, output_hidden_states=True, output_attentions=True)
    layer_index = len(out.hidden_states) - 1 - 2  # select layer −2 is produced by this encoder layer
    expected = out.attentions[layer_index][:, :, 0, 1:].sum(dim=1)
    layer = eager.encoder.layers[layer_index]
    got, mean_keys = cls_attention_stats(
        layer.layer_norm1(out.hidden_states[layer_index]),
        layer.self_attn.q_proj,
        layer.self_attn.k_proj,
        num_heads=layer.self_attn.num_heads,
        scale=layer.self_attn.scale,
    )
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    keys = layer.self_attn.k_proj(layer.layer_norm1(out.hidden_states[layer_index]))
    keys = keys.view(2, keys.shape[1], layer.self_attn.num_heads, -1).mean(dim=2)
    torch.testing.assert_close(mean_keys, keys, rtol=1e-5, atol=1e-6)


def _naive_first_stage_keep(tiny: TinyLlava, ids: torch.Tensor, pixels: torch.Tensor, visual: torch.Tensor) -> set[int]:
    """Paper §2.2 written out: run to layer 2, score with layer 3's q/k by hand, keep the top int(N0·r)."""
    model = tiny.model
    saved = model.model.duet
    model.model.duet = DuetConfig(dominant=TINY_DUET.dominant, contextual=TINY_DUET.contextual, cluster_width=4)
    out = model(input_ids=ids, images=pixels, output_hidden_states=True)
    model.model.duet = saved
    hidden = out.hidden_states[2][0]  # output of layer 2 (1-indexed)
    layer = model.model.layers[2]
    x = layer.input_layernorm(hidden)
    config = model.config
    heads, kv_heads, head_dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    length = x.shape[0]
    q = layer.self_attn.q_proj(x).view(length, heads, head_dim)
    k = layer.self_attn.k_proj(x).view(length, kv_heads, head_dim)
    theta = config.rope_parameters["rope_theta"]
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.arange(length).float()[:, None] * inv_freq[None]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)

    def rope(t: torch.Tensor) -> torch.Tensor:
        half = t.shape[-1] // 2
        rotated = torch.cat([-t[..., half:], t[..., :half]], -1)
        return t * cos[:, None] + rotated * sin[:, None]

    q, k = rope(q), rope(k)
    visual_positions = visual[0].nonzero().flatten().tolist()
    first_visual = visual_positions[0]
    query_rows = [p for p in range(first_visual + 1, length) if not visual[0, p]]
    scores = torch.zeros(length)
    for row in query_rows:
        per_head = []
        for h in range(heads):
            logits = torch.tensor(
                [float(q[row, h] @ k[col, h // (heads // kv_heads)]) / math.sqrt(head_dim) for col in range(row + 1)]
            )
            probs = torch.softmax(logits.double(), dim=0)
            per_head.append(torch.cat([probs, torch.zeros(length - row - 1, dtype=probs.dtype)]))
        scores += torch.stack(per_head).mean(0).float() / len(query_rows)
    n0 = len(visual_positions)
    ranked = sorted(visual_positions, key=lambda p: (-float(scores[p]), p))
    return set(ranked[: int(n0 * TINY_DUET.ratio_list[0])])


def test_t2v_selection_equals_naive_reference(duet_model: TinyLlava) -> None:
    ids = encode(duet_model.tokenizer, PROMPTS[0]).unsqueeze(0)
    pixels = random_images(1, seed=7)
    with torch.no_grad():
        out = duet_model.model(input_ids=ids, images=pixels)
        expected = _naive_first_stage_keep(duet_model, ids, pixels, out.visual_token_mask)
    assert set(out.t2v_keep_masks[0][0].nonzero().flatten().tolist()) == expected


def test_training_step_backpropagates_through_dropped_tokens(duet_model: TinyLlava) -> None:
    model = duet_model.model
    model.train()
    ids, mask, images, _, _ = _batch(duet_model, "right", seed=8)
    labels = ids.clone().masked_fill(mask == 0, -100).masked_fill(ids < 0, -100)
    out = model(input_ids=ids, attention_mask=mask, images=images, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.model.mm_projector[0].weight.grad is not None
    assert float(model.model.mm_projector[0].weight.grad.abs().sum()) > 0
    model.eval()


@pytest.mark.parametrize("positions", ["compact", "keep"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_cached_decode_step_logits_equal_full_recompute(duet_model: TinyLlava, positions: str, side: str) -> None:
    """Two decode steps on the pruned cache give the logits of a fresh (pruned) prefill of the longer input."""
    duet.apply(duet_model.model, DuetConfig(**{**TINY_DUET.to_dict(), "position_ids": positions}))
    model = duet_model.model
    ids, mask, images, _, _ = _batch(duet_model, side, seed=9)
    spliced = model.prepare_multimodal_inputs(ids, mask, None, images, None, side)
    embeds, valid, visual = spliced.inputs_embeds, spliced.attention_mask, spliced.visual_token_mask
    new_tokens = torch.tensor([[17, 40], [23, 41], [31, 42]])
    with torch.no_grad():
        out = model(inputs_embeds=embeds, attention_mask=valid, visual_token_mask=visual, use_cache=True)
        cache, running_mask = out.cache, valid
        for step in range(new_tokens.shape[1]):
            running_mask = torch.cat([running_mask, torch.ones(3, 1, dtype=valid.dtype)], dim=1)
            position = running_mask.sum(dim=1, keepdim=True) - 1
            out = model(
                input_ids=new_tokens[:, step : step + 1],
                attention_mask=running_mask,
                position_ids=position,
                cache=cache,
                use_cache=True,
            )
            cache = out.cache
        longer = torch.cat([embeds, model.model.embed_tokens(new_tokens)], dim=1)
        answer = torch.cat([torch.full(valid.shape, -100), new_tokens], dim=1)  # generated tokens are answer, not query
        fresh = model(
            inputs_embeds=longer,
            attention_mask=running_mask,
            visual_token_mask=torch.cat([visual, torch.zeros(3, 2, dtype=torch.bool)], dim=1),
            labels=answer,
        )
    # after a drop a right-padded batch is re-packed, so each sample's last token sits at its own last valid slot
    last = fresh.kept_valid.long().cumsum(dim=1).argmax(dim=1)
    torch.testing.assert_close(out.logits[:, -1], fresh.logits[torch.arange(3), last], rtol=1e-4, atol=1e-5)
