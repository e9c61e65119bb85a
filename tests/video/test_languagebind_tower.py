"""The LanguageBind video tower: spatial part == transformers' CLIP, temporal part == LanguageBind's layer code."""

import json

import pytest
import torch
from einops import rearrange
from transformers import AutoModel, CLIPVisionConfig, CLIPVisionModel

from llava.model.multimodal_encoder.languagebind import (
    LanguageBindVisionConfig,
    LanguageBindVisionModel,
    languagebind_vision_config,
)
from llava.testing.tiny_llava import read_tiny_config
from llava.testing.tiny_video_llava import languagebind_repo_config

FRAMES = 8


def tower(temporal: bool = True, seed: int = 0, attn: str = "sdpa") -> LanguageBindVisionModel:
    torch.manual_seed(seed)
    config = LanguageBindVisionConfig(**read_tiny_config("clip_vision_224"), add_time_attn=temporal, num_frames=FRAMES)
    return LanguageBindVisionModel._from_config(config, attn_implementation=attn).eval()


def clips(count: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(count * FRAMES, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def attention(module, x: torch.Tensor) -> torch.Tensor:
    """CLIP attention written out (softmax(q kᵀ · scale) v over heads), to keep the reference independent."""
    b, n, d = x.shape
    heads = module.num_heads
    q, k, v = (proj(x).view(b, n, heads, -1).transpose(1, 2) for proj in (module.q_proj, module.k_proj, module.v_proj))
    weights = (q @ k.transpose(-1, -2) * module.scale).softmax(dim=-1)
    return module.out_proj((weights @ v).transpose(1, 2).reshape(b, n, d))


def original_layer(layer, hidden: torch.Tensor, t: int) -> torch.Tensor:
    """LanguageBind's `CLIPEncoderLayer.forward` (languagebind/video/modeling_video.py), statement by statement."""
    n = hidden.shape[1]
    if t != 1:
        hidden = rearrange(hidden, "(b t) n d -> (b n) t d", t=t)
        hidden = hidden + layer.temporal_embedding[:, :t, :]
        hidden = rearrange(hidden, "(b n) t d -> (b t) n d", n=n)
    residual = hidden
    hidden = rearrange(hidden, "(b t) n d -> (b n) t d", t=t)
    hidden = layer.temporal_layer_norm1(hidden)
    hidden = attention(layer.temporal_attn, hidden)
    hidden = residual + rearrange(hidden, "(b n) t d -> (b t) n d", n=n)
    residual = hidden
    hidden = residual + attention(layer.self_attn, layer.layer_norm1(hidden))
    return hidden + layer.mlp(layer.layer_norm2(hidden))


def test_temporal_layers_match_languagebinds_code() -> None:
    model = tower()
    pixels = clips()
    with torch.no_grad():
        ours = model(pixels, output_hidden_states=True).hidden_states
        hidden = model.pre_layrnorm(model.embeddings(pixels))
        expected = [hidden]
        for layer in model.encoder.layers:
            hidden = original_layer(layer, hidden, FRAMES)
            expected.append(hidden)
    assert len(ours) == len(expected) == model.config.num_hidden_layers + 1
    for got, want in zip(ours, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_temporal_off_is_transformers_clip_with_the_same_weights() -> None:
    model = tower()
    model.set_temporal_attention(False)
    clip = CLIPVisionModel(CLIPVisionConfig(**read_tiny_config("clip_vision_224"))).eval()
    spatial = {k: v for k, v in model.state_dict().items() if "temporal" not in k}
    clip.load_state_dict(spatial, strict=True)
    pixels = clips()
    with torch.no_grad():
        ours = model(pixels, output_hidden_states=True)
        theirs = clip(pixels, output_hidden_states=True)
    for got, want in zip(ours.hidden_states, theirs.hidden_states, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(ours.pooler_output, theirs.pooler_output, rtol=0, atol=0)


def test_temporal_attention_mixes_frames_of_one_clip_only() -> None:
    model = tower()
    pixels = clips(count=2)
    changed = pixels.clone()
    changed[3] += 1.0  # a frame of the first clip
    with torch.no_grad():
        base = model(pixels).last_hidden_state
        after = model(changed).last_hidden_state
        model.set_temporal_attention(False)
        spatial_base, spatial_after = model(pixels).last_hidden_state, model(changed).last_hidden_state
    assert not torch.allclose(base[0], after[0])  # frame 0 sees frame 3 through temporal attention
    torch.testing.assert_close(base[FRAMES:], after[FRAMES:], rtol=0, atol=0)  # the second clip does not
    torch.testing.assert_close(spatial_base[0], spatial_after[0], rtol=0, atol=0)  # without it, frames are separate


def test_attentions_are_the_spatial_ones_one_per_layer() -> None:
    model = tower(attn="eager")
    with torch.no_grad():
        out = model(clips(count=1), output_attentions=True)
    assert len(out.attentions) == model.config.num_hidden_layers
    assert out.attentions[0].shape == (FRAMES, model.config.num_attention_heads, 257, 257)


def test_frames_must_come_in_whole_clips_when_temporal() -> None:
    model = tower()
    with pytest.raises(ValueError, match="not a whole number of 8-frame clips"):
        model(torch.randn(FRAMES + 1, 3, 224, 224))
    model.set_temporal_attention(False)
    assert model(torch.randn(3, 3, 224, 224)).last_hidden_state.shape[0] == 3


def test_switching_on_a_tower_without_temporal_modules_is_an_error() -> None:
    model = tower(temporal=False)
    assert not hasattr(model.encoder.layers[0], "temporal_attn")
    with pytest.raises(ValueError, match="add_time_attn=False"):
        model.set_temporal_attention(True)


def test_temporal_embedding_is_initialised_by_the_model_hook() -> None:
    """transformers 5 builds from-config models without running module init; `_init_weights` must cover it."""
    model = tower()
    embedding = model.encoder.layers[0].temporal_embedding
    assert embedding.shape == (1, FRAMES, 32)
    assert torch.isfinite(embedding).all()
    assert 0.5 * 32**-0.5 < embedding.std().item() < 1.5 * 32**-0.5


def test_round_trip_and_auto_classes(tmp_path) -> None:
    model = tower()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["add_time_attn"] is True and saved["num_frames"] == FRAMES
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, LanguageBindVisionModel)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


def test_reads_languagebinds_two_tower_config() -> None:
    config = languagebind_vision_config(languagebind_repo_config(video=True))
    assert (config.add_time_attn, config.num_frames, config.hidden_size, config.patch_size) == (True, 8, 32, 14)
    assert not hasattr(config, "lora_r")  # LanguageBind's training knobs are dropped
    assert languagebind_vision_config(languagebind_repo_config(video=False)).add_time_attn is False


def test_parameter_names_are_languagebinds() -> None:
    names = {name for name, _ in tower().named_parameters()}
    assert {
        "encoder.layers.0.temporal_embedding",
        "encoder.layers.0.temporal_attn.q_proj.weight",
        "encoder.layers.0.temporal_layer_norm1.weight",
        "embeddings.class_embedding",
        "pre_layrnorm.weight",
    } <= names
