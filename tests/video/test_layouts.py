"""Both released Video-LLaVA layouts: saved as the hub repos are, loaded through `load_pretrained_model`."""

import json
import logging

import pytest
import torch
from safetensors import safe_open
from transformers import VideoLlavaForConditionalGeneration

from llava.model.builder import load_pretrained_model
from llava.model.language_model.video_llava_llama import VideoLlavaLlamaForCausalLM
from llava.model.video_llava_loading import VideoLlavaLayout, video_llava_layout
from llava.testing.tiny_video_llava import HF_ID, ORIGINAL_ID, VIDEO_TOWER_ID, save_original_layout
from llava.video.hf_processing import VideoLlavaHfProcessor
from llava.video.processing import LanguageBindVideoProcessor, VideoLlavaProcessors


def test_original_layout_files_are_the_released_ones(saved) -> None:
    config = json.loads((saved.original / "config.json").read_text())
    assert config["model_type"] == "llava" and config["architectures"] == ["LlavaLlamaForCausalLM"]
    assert config["mm_image_tower"] == "LanguageBind/LanguageBind_Image"
    assert config["mm_video_tower"] == VIDEO_TOWER_ID
    assert "mm_video_tower_config" not in config and "mm_vision_tower" not in config
    index = json.loads((saved.original / "pytorch_model.bin.index.json").read_text())["weight_map"]
    assert set(index.values()) == {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}
    for key in (
        "model.video_tower.video_tower.encoder.layers.0.temporal_attn.q_proj.weight",
        "model.video_tower.video_tower.encoder.layers.1.temporal_layer_norm1.bias",
        "model.video_tower.video_tower.encoder.layers.2.temporal_embedding",
        "model.image_tower.image_tower.encoder.layers.0.self_attn.k_proj.weight",
        "model.mm_projector.2.weight",
        "model.layers.0.self_attn.rotary_emb.inv_freq",
        "lm_head.weight",
    ):
        assert key in index, key


def test_hf_layout_files_are_the_released_ones(saved) -> None:
    config = json.loads((saved.hf / "config.json").read_text())
    assert config["model_type"] == "video_llava" and config["architectures"] == ["VideoLlavaForConditionalGeneration"]
    assert config["text_config"]["vocab_size"] % 64 == 0
    assert (config["image_token_index"], config["video_token_index"]) == (1000, 1001)
    index = json.loads((saved.hf / "model.safetensors.index.json").read_text())["weight_map"]
    assert "language_model.model.layers.0.self_attn.q_proj.weight" in index
    assert "language_model.lm_head.weight" in index
    assert "video_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight" in index
    assert "multi_modal_projector.linear_1.weight" in index
    assert not any("temporal" in key for key in index)  # the conversion drops them (Video-LLaVA#223)
    with safe_open(str(saved.hf / index["multi_modal_projector.linear_1.weight"]), "pt") as handle:
        assert handle.metadata() == {"format": "pt"}


def test_layout_detection(saved, offline_hub) -> None:
    assert video_llava_layout(str(saved.original)) is VideoLlavaLayout.ORIGINAL
    assert video_llava_layout(str(saved.hf)) is VideoLlavaLayout.HF
    assert video_llava_layout(ORIGINAL_ID) is VideoLlavaLayout.ORIGINAL
    assert video_llava_layout(HF_ID) is VideoLlavaLayout.HF
    assert video_llava_layout(str(saved.original.parent / "towers" / "LanguageBind_Image")) is None


@pytest.mark.parametrize("source", ["folder", "hub id"])
def test_original_layout_loads_with_every_weight(saved, offline_hub, source: str) -> None:
    path = str(saved.original) if source == "folder" else ORIGINAL_ID
    tokenizer, model, processors, context = load_pretrained_model(path, None, "Video-LLaVA-7B", device="cpu")
    assert isinstance(model, VideoLlavaLlamaForCausalLM)
    assert model.config.temporal_attention is True and model.temporal_attention
    assert context == 3072
    assert isinstance(processors, VideoLlavaProcessors) and isinstance(processors["video"], LanguageBindVideoProcessor)
    assert processors["image"].crop_size == {"height": 224, "width": 224}
    expected = saved.tiny.model.state_dict()
    got = model.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0)
    assert len(tokenizer) == len(saved.tiny.tokenizer)


def test_temporal_attention_switch_is_recorded(saved, offline_hub) -> None:
    _, model, _, _ = load_pretrained_model(str(saved.original), None, "x", device="cpu", temporal_attention=False)
    assert model.config.temporal_attention is False and not model.temporal_attention
    model.set_temporal_attention(True)
    assert model.config.temporal_attention is True


def test_hf_layout_loads_as_transformers_class_and_says_once_that_it_has_no_temporal_attention(
    saved, offline_hub, caplog
) -> None:
    from llava.model import video_llava_loading

    video_llava_loading._log_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="llava.model.video_llava_loading"):
        for _ in range(2):
            tokenizer, model, processor, _ = load_pretrained_model(HF_ID, None, "x", device="cpu")
    assert isinstance(model, VideoLlavaForConditionalGeneration)
    assert isinstance(processor, VideoLlavaHfProcessor) and processor.tokenizer is tokenizer
    assert model.config.temporal_attention is False
    messages = [r.getMessage() for r in caplog.records if "temporal attention" in r.getMessage()]
    assert len(messages) == 1 and "Video-LLaVA#223" in messages[0]


def test_hf_layout_refuses_temporal_attention(saved, offline_hub) -> None:
    with pytest.raises(ValueError, match="no temporal attention weights"):
        load_pretrained_model(str(saved.hf), None, "x", device="cpu", temporal_attention=True)


def test_checkpoint_without_video_tower_is_an_error(saved, offline_hub, tmp_path) -> None:
    folder = save_original_layout(saved.tiny, tmp_path, drop_prefixes=("model.video_tower.",))
    with pytest.raises(ValueError, match=r"does not contain the video tower: .* weights under 'model.video_tower"):
        load_pretrained_model(str(folder), None, "x", device="cpu")


def test_checkpoint_without_temporal_weights_is_an_error(saved, offline_hub, tmp_path) -> None:
    dropped = tuple(f"model.video_tower.video_tower.encoder.layers.{i}.temporal" for i in range(3))
    folder = save_original_layout(saved.tiny, tmp_path, drop_prefixes=dropped)
    with pytest.raises(ValueError, match="temporal-attention weights .* are missing"):
        load_pretrained_model(str(folder), None, "x", device="cpu")


def test_unreachable_tower_config_is_an_error_naming_the_tower(saved, monkeypatch, tmp_path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match="image tower 'LanguageBind/LanguageBind_Image'.*image_tower="):
        load_pretrained_model(str(saved.original), None, "x", device="cpu")


def test_tower_folders_can_replace_the_hub(saved, monkeypatch, tmp_path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    towers = saved.original.parent / "towers"
    _, model, _, _ = load_pretrained_model(
        str(saved.original), None, "x", device="cpu",
        image_tower=str(towers / "LanguageBind_Image"), video_tower=str(towers / "LanguageBind_Video_merge"),
    )  # fmt: skip
    assert model.config.mm_video_tower == str(towers / "LanguageBind_Video_merge")


def test_video_flags_on_a_llava_checkpoint_are_an_error(tmp_path) -> None:
    from llava.testing.tiny_llava import build_tiny_llava, save_released_layout

    folder = save_released_layout(build_tiny_llava(seed=0), tmp_path)
    with pytest.raises(ValueError, match="apply to Video-LLaVA checkpoints"):
        load_pretrained_model(str(folder), None, "x", device="cpu", temporal_attention=False)


def test_vision_tower_flag_on_video_llava_is_an_error(saved, offline_hub) -> None:
    with pytest.raises(ValueError, match="image_tower= / video_tower= instead of vision_tower="):
        load_pretrained_model(str(saved.original), None, "x", device="cpu", vision_tower="/somewhere/clip")
