"""Every checkpoint kind loads through `load_pretrained_model`, reproduces the model that was saved, honours dtype and
device placement, and refuses to leave any weight at a random initialisation."""

import copy
import importlib.util
import json
import shutil
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


# --------------------------------------------------------------------------- every kind: dtype, devices, strictness
@pytest.fixture(scope="module")
def kinds(released: tuple[TinyLlava, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One folder per checkpoint kind, with the arguments that load it and the model it must reproduce."""
    tiny, folder = released
    root = tmp_path_factory.mktemp("kinds")
    base = _save_base_llm(tiny, root / "vicuna-tiny")
    projector_dir = root / "llava-tiny-pretrain"
    projector_dir.mkdir()
    (projector_dir / "config.json").write_text((folder / "config.json").read_text())
    torch.save({k: v for k, v in tiny.model.state_dict().items() if k.startswith("model.mm_projector.")},
               projector_dir / "mm_projector.bin")  # fmt: skip
    lora_dir = root / "llava-tiny-lora"
    peft_model = get_peft_model(
        copy.deepcopy(tiny.model), LoraConfig(r=4, lora_alpha=8, target_modules=r"model\.layers\.\d+\.self_attn\.q_proj",
                               init_lora_weights=False),  # fmt: skip
    )
    peft_model.save_pretrained(lora_dir)
    tiny.model.config.save_pretrained(lora_dir)
    torch.save({k: v for k, v in peft_model.state_dict().items() if "mm_projector" in k},
               lora_dir / "non_lora_trainables.bin")  # fmt: skip
    lora_reference = peft_model.merge_and_unload().eval()
    native_tiny = build_tiny_llava(seed=6)
    native = root / "llava-1.5-tiny-hf"
    hf_llava_twin(native_tiny.model, image_token_id=len(native_tiny.tokenizer) - 1).save_pretrained(native)
    native_tiny.tokenizer.save_pretrained(native)
    native_tiny.image_processor.save_pretrained(native)
    return {
        "full": ((str(folder), None), tiny.model),
        "projector": ((str(projector_dir), str(base)), tiny.model),
        "lora": ((str(lora_dir), str(base)), lora_reference),
        "hf_native": ((str(native), None), native_tiny.model),
    }


KINDS = ("full", "projector", "lora", "hf_native")


@pytest.mark.parametrize("kind", KINDS)
def test_dtype_reaches_every_weight(kinds: dict, kind: str) -> None:
    (path, base), _ = kinds[kind]
    tokenizer, fp32, _, _ = load_pretrained_model(path, base)
    _, bf16, _, _ = load_pretrained_model(path, base, torch_dtype=torch.bfloat16)
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    assert bf16.get_vision_tower().dtype == torch.bfloat16
    if kind != "lora":  # a LoRA merge in bf16 rounds differently from an fp32 merge cast afterwards
        for param in fp32.parameters():  # the same weights in bf16; buffers (rotary frequencies) stay fp32 in both
            param.data = param.data.to(torch.bfloat16)
        torch.testing.assert_close(_logits(bf16, tokenizer), _logits(fp32, tokenizer), rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("device_map", [{"": "cpu"}, "auto"])
def test_device_map_is_honoured(kinds: dict, kind: str, device_map) -> None:
    (path, base), reference = kinds[kind]
    tokenizer, model, _, _ = load_pretrained_model(path, base, device_map=device_map)
    projector = next(model.get_model().mm_projector.parameters())
    assert model.get_vision_tower().device == projector.device == torch.device("cpu")
    torch.testing.assert_close(_logits(model, tokenizer), _logits(reference, tokenizer), rtol=1e-5, atol=1e-5)


def test_quantised_lora_is_refused_with_the_fix(kinds: dict) -> None:
    (path, base), _ = kinds["lora"]
    with pytest.raises(ValueError, match="merge once in 16 bits"):
        load_pretrained_model(path, base, load_4bit=True)


def test_quantisation_without_bitsandbytes_is_explained(kinds: dict) -> None:
    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed: the 4/8-bit path itself needs a GPU")
    (path, base), _ = kinds["full"]
    with pytest.raises(ImportError, match="pip install bitsandbytes"):
        load_pretrained_model(path, base, load_8bit=True)


def _drop_weight(folder: Path, target: Path, name: str) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(folder, target)
    state = load_file(str(target / "model.safetensors"))
    del state[name]
    save_file(state, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def test_checkpoint_missing_weights_names_them(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    folder = _drop_weight(released[1], tmp_path / "partial", "model.layers.1.mlp.down_proj.weight")
    with pytest.raises(ValueError, match=r"missing model\.layers\.1\.mlp\.down_proj\.weight.*randomly initialised"):
        load_pretrained_model(str(folder))
    no_projector = _drop_weight(released[1], tmp_path / "no-projector", "model.mm_projector.2.weight")
    with pytest.raises(ValueError, match=r"missing model\.mm_projector\.2\.weight"):
        load_pretrained_model(str(no_projector))


def test_tower_folder_missing_weights_names_them(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    tiny, folder = released
    tower = _drop_weight(Path(tiny.model.config.mm_vision_tower), tmp_path / "clip", "encoder.layers.0.mlp.fc1.weight")
    with pytest.raises(ValueError, match=r"missing \[?'?encoder\.layers\.0\.mlp\.fc1\.weight.*randomly initialised"):
        load_pretrained_model(str(folder), vision_tower=str(tower))


def test_projector_and_lora_files_missing_weights(kinds: dict, tmp_path: Path) -> None:
    (projector_dir, base), _ = kinds["projector"]
    partial = tmp_path / "pretrain"
    shutil.copytree(projector_dir, partial)
    weights = torch.load(partial / "mm_projector.bin", weights_only=True)
    del weights["model.mm_projector.0.bias"]
    torch.save(weights, partial / "mm_projector.bin")
    with pytest.raises(ValueError, match=r"missing \['0\.bias'\]"):
        load_pretrained_model(str(partial), base)
    (lora_dir, base), _ = kinds["lora"]
    no_trainables = tmp_path / "lora"
    shutil.copytree(lora_dir, no_trainables)
    (no_trainables / "non_lora_trainables.bin").unlink()
    with pytest.raises(ValueError, match=r"no projector weights \(model\.mm_projector\.0\.bias"):
        load_pretrained_model(str(no_trainables), base)
    from safetensors.torch import load_file, save_file

    adapter = load_file(str(lora_dir) + "/adapter_model.safetensors")
    dropped = sorted(adapter)[0]
    del adapter[dropped]
    shutil.copytree(lora_dir, tmp_path / "lora-partial")
    save_file(adapter, str(tmp_path / "lora-partial" / "adapter_model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lacks LoRA weights"):
        load_pretrained_model(str(tmp_path / "lora-partial"), base)


def test_stored_duet_is_validated_against_the_model_at_load(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    folder = tmp_path / "bad-duet"
    shutil.copytree(released[1], folder)
    config = json.loads((folder / "config.json").read_text())
    config["duet"] = {"dominant": 72, "contextual": 30, "layer_list": [16, 24], "ratio_list": [0.5, 0.0]}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config\.json stores a `duet` setting that does not fit.*stage layer 16"):
        load_pretrained_model(str(folder))
    _, model, _, _ = load_pretrained_model(str(folder), duet="full")  # an explicit setting replaces the stored one
    assert model.duet is None
    config["duet"] = {"dominant": 72, "typo": 1}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config\.json: its `duet` setting is invalid.*unknown key"):
        load_pretrained_model(str(folder))
