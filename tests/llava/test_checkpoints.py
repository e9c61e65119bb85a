"""Every checkpoint kind loads through `load_pretrained_model` and reproduces the model that was saved."""

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from llava.model.builder import load_pretrained_model
from llava.testing.tiny_llava import TinyLlava, build_tiny_llava, random_images
from tests.llava.helpers import PROMPTS, encode, hf_llava_twin


def _logits(model, tokenizer) -> torch.Tensor:
    ids = encode(tokenizer, PROMPTS[0]).unsqueeze(0)
    return model(input_ids=ids, images=random_images(1, seed=11)).logits


def _save_base_llm(tiny: TinyLlava, folder: Path) -> Path:
    """The tiny model's language part as a plain Llama checkpoint (the role of lmsys/vicuna-7b-v1.5)."""
    fields = {k: v for k, v in tiny.model.config.to_dict().items() if k in LlamaConfig.__dataclass_fields__}
    llm = LlamaForCausalLM(LlamaConfig(**fields))
    state = {k: v for k, v in tiny.model.state_dict().items() if not k.startswith(("model.mm_projector", "model.vision_tower"))}
    llm.load_state_dict(state, strict=True)
    llm.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


def test_full_checkpoint_round_trip(released: tuple[TinyLlava, Path]) -> None:
    tiny, folder = released
    tokenizer, model, processor, context = load_pretrained_model(str(folder), None, "llava-v1.5-tiny")
    assert context == tiny.model.config.tokenizer_model_max_length
    assert processor.crop_size["height"] == 336
    torch.testing.assert_close(_logits(model, tokenizer), _logits(tiny.model, tiny.tokenizer), rtol=0, atol=0)
    assert not any(k.startswith("model.vision_tower") for k in _saved_keys(folder))


def _saved_keys(folder: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        return list(handle.keys())


def test_released_model_type_llava_is_accepted(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    import json
    import shutil

    tiny, folder = released
    legacy = tmp_path / "legacy"
    shutil.copytree(folder, legacy)
    config = json.loads((legacy / "config.json").read_text())
    config["model_type"] = "llava"
    (legacy / "config.json").write_text(json.dumps(config))
    tokenizer, model, _, _ = load_pretrained_model(str(legacy))
    assert model.config.model_type == "llava_llama"
    torch.testing.assert_close(_logits(model, tokenizer), _logits(tiny.model, tiny.tokenizer), rtol=0, atol=0)


def test_projector_only_checkpoint_with_base(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    tiny, folder = released
    base = _save_base_llm(tiny, tmp_path / "vicuna-tiny")
    projector_dir = tmp_path / "llava-tiny-pretrain"
    projector_dir.mkdir()
    (projector_dir / "config.json").write_text((folder / "config.json").read_text())
    projector = {k: v for k, v in tiny.model.state_dict().items() if k.startswith("model.mm_projector.")}
    torch.save(projector, projector_dir / "mm_projector.bin")
    with pytest.raises(ValueError, match="model_base"):
        load_pretrained_model(str(projector_dir))
    tokenizer, model, _, _ = load_pretrained_model(str(projector_dir), str(base))
    torch.testing.assert_close(_logits(model, tokenizer), _logits(tiny.model, tiny.tokenizer), rtol=0, atol=0)


def test_lora_checkpoint_merges(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    tiny, folder = released
    base = _save_base_llm(tiny, tmp_path / "vicuna-tiny")
    trained = build_tiny_llava(seed=1)
    trained.model.get_vision_tower().vision_tower_name = tiny.model.config.mm_vision_tower
    trained.model.config.mm_vision_tower = tiny.model.config.mm_vision_tower
    trained.model.get_vision_tower().vision_tower.load_state_dict(tiny.model.get_vision_tower().vision_tower.state_dict())
    torch.manual_seed(5)
    with torch.no_grad():
        for p in trained.model.get_model().mm_projector.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    peft_model = get_peft_model(
        trained.model, LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=r"model\.layers\.\d+\.(self_attn\.(q_proj|v_proj)|mlp\.down_proj)",
            init_lora_weights=False,
        ),
    )
    lora_dir = tmp_path / "llava-tiny-lora"
    peft_model.save_pretrained(lora_dir)
    trained.model.config.save_pretrained(lora_dir)
    non_lora = {k: v for k, v in peft_model.state_dict().items() if "mm_projector" in k}
    torch.save(non_lora, lora_dir / "non_lora_trainables.bin")
    expected = _logits(peft_model, trained.tokenizer)
    tokenizer, model, _, _ = load_pretrained_model(str(lora_dir), str(base))
    torch.testing.assert_close(_logits(model, tokenizer), expected, rtol=1e-5, atol=1e-5)


def test_hf_native_checkpoint_converts(tmp_path: Path) -> None:
    tiny = build_tiny_llava(seed=6)
    twin = hf_llava_twin(tiny.model, image_token_id=len(tiny.tokenizer) - 1)
    native = tmp_path / "llava-1.5-tiny-hf"
    twin.save_pretrained(native)
    tiny.tokenizer.save_pretrained(native)
    tiny.image_processor.save_pretrained(native)
    tokenizer, model, _, _ = load_pretrained_model(str(native))
    torch.testing.assert_close(_logits(model, tokenizer), _logits(tiny.model, tiny.tokenizer), rtol=1e-6, atol=1e-6)


def test_duet_setting_is_saved_in_config_and_restored(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    import duet
    from duet.config import DuetConfig

    _, folder = released
    config = DuetConfig(dominant=30, contextual=6, layer_list=(2,), ratio_list=(0.5,), query="last")
    tokenizer, model, _, _ = load_pretrained_model(str(folder), duet=config)
    assert model.duet == config
    saved = tmp_path / "llava-tiny-duet"
    model.save_pretrained(saved)
    tokenizer.save_pretrained(saved)
    _, reloaded, _, _ = load_pretrained_model(str(saved))
    assert reloaded.duet == config
    torch.testing.assert_close(_logits(reloaded, tokenizer), _logits(model, tokenizer), rtol=0, atol=0)
    duet.apply(reloaded, "full")
    assert reloaded.duet is None and reloaded.config.duet is None
