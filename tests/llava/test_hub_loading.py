"""Hub ids load through the same code path as folders, offline, from a Hugging Face cache the test writes.

The cache (`llava.testing.fake_hub`) holds what a user's cache holds after `hf download`: a released-layout LLaVA
whose `mm_vision_tower` is itself a hub id (the tiny CLIP, also in the cache) and a transformers-native llava-hf
checkpoint. `HF_HOME` points at it and `HF_HUB_OFFLINE=1` forbids the network, as on a cluster node.
"""

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from PIL import Image

from duet.cli import main as duet_cli
from llava.eval import model_vqa_loader
from llava.model.builder import load_pretrained_model
from llava.model.hub import (
    ModelNotFoundError,
    hub_cache_dir,
    resolve_model_file,
    resolve_model_folder,
    weight_patterns,
)
from llava.testing.fake_hub import add_to_hub_cache
from llava.testing.tiny_llava import TinyLlava, build_tiny_llava, random_images, save_released_layout
from tests.llava.helpers import PROMPTS, encode, hf_llava_twin

RELEASED_ID = "fake-liuhaotian/llava-v1.5-tiny"
CLIP_ID = "fake-openai/clip-vit-tiny-336"
NATIVE_ID = "fake-llava-hf/llava-1.5-tiny-hf"


def _logits(model, tokenizer) -> torch.Tensor:
    ids = encode(tokenizer, PROMPTS[0]).unsqueeze(0)
    with torch.no_grad():
        return model(input_ids=ids, images=random_images(1, seed=11)).logits


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """HF_HOME with the three repos cached, plus the local folders they were made from and the in-memory models."""
    root = tmp_path_factory.mktemp("hub")
    tiny = build_tiny_llava(seed=3)
    folder = save_released_layout(tiny, root / "local")
    clip_folder = folder.parent / "clip-vit-tiny"
    config = json.loads((folder / "config.json").read_text())
    config["mm_vision_tower"] = CLIP_ID  # as liuhaotian/llava-v1.5-7b names openai/clip-vit-large-patch14-336
    (folder / "config.json").write_text(json.dumps(config))
    native_model = build_tiny_llava(seed=4)
    native = root / "local" / "llava-1.5-tiny-hf"
    hf_llava_twin(native_model.model, image_token_id=len(native_model.tokenizer) - 1).save_pretrained(native)
    native_model.tokenizer.save_pretrained(native)
    native_model.image_processor.save_pretrained(native)
    home = root / "hf_home"
    cache = home / "hub"
    add_to_hub_cache(cache, RELEASED_ID, folder)
    add_to_hub_cache(cache, CLIP_ID, clip_folder)
    add_to_hub_cache(cache, NATIVE_ID, native)
    return {"home": home, "cache": cache, "released": (tiny, folder, clip_folder), "native": (native_model, native)}


@pytest.fixture
def offline(hub: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(hub["home"]))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub["cache"]


# ----------------------------------------------------------------------------------------------------- resolution
def test_cache_location_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert hub_cache_dir() == tmp_path / "elsewhere"
    assert hub_cache_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_hub_id_resolves_to_its_snapshot_and_revision_selects_one(offline: Path, hub: dict, tmp_path: Path) -> None:
    snapshot = resolve_model_folder(RELEASED_ID)
    assert snapshot.parent.parent == offline / "models--fake-liuhaotian--llava-v1.5-tiny"
    assert json.loads((snapshot / "config.json").read_text())["mm_vision_tower"] == CLIP_ID
    variant = tmp_path / "variant"
    shutil.copytree(hub["released"][1], variant)
    (variant / "extra.json").write_text("{}")
    tagged = add_to_hub_cache(offline, RELEASED_ID, variant, revision="v2")
    assert resolve_model_folder(RELEASED_ID, revision="v2") == tagged
    assert resolve_model_folder(RELEASED_ID, revision=tagged.name) == tagged  # a commit hash
    assert resolve_model_folder(RELEASED_ID) == snapshot  # main did not move
    assert resolve_model_folder(str(hub["released"][1])) == hub["released"][1]  # a folder is used as it is


def test_projector_file_by_hub_id(offline: Path, tmp_path: Path) -> None:
    pretrain = tmp_path / "pretrain"
    (pretrain / "sub").mkdir(parents=True)
    torch.save({"model.mm_projector.0.weight": torch.ones(2)}, pretrain / "mm_projector.bin")
    torch.save({"model.mm_projector.0.weight": torch.zeros(2)}, pretrain / "sub" / "mm_projector.bin")
    add_to_hub_cache(offline, "fake-liuhaotian/pretrain-tiny", pretrain)
    top = resolve_model_file("fake-liuhaotian/pretrain-tiny", "mm_projector.bin")
    nested = resolve_model_file("fake-liuhaotian/pretrain-tiny/sub/mm_projector.bin", "mm_projector.bin")
    assert torch.load(top, weights_only=True)["model.mm_projector.0.weight"].sum() == 2
    assert torch.load(nested, weights_only=True)["model.mm_projector.0.weight"].sum() == 0
    assert resolve_model_file(str(pretrain), "mm_projector.bin") == pretrain / "mm_projector.bin"


def test_unknown_id_offline_names_the_id_and_the_fix(offline: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        load_pretrained_model("fake-liuhaotian/llava-v1.5-absent")
    message = str(caught.value)
    assert "fake-liuhaotian/llava-v1.5-absent" in message and str(offline) in message
    assert "HF_HUB_OFFLINE" in message and "hf download fake-liuhaotian/llava-v1.5-absent" in message
    with pytest.raises(ModelNotFoundError, match="fake-liuhaotian/pretrain-absent.*hf download"):
        resolve_model_file("fake-liuhaotian/pretrain-absent", "mm_projector.bin")
    with pytest.raises(ModelNotFoundError, match="revision 'v9'.*not .*in the Hugging Face cache"):
        resolve_model_folder(RELEASED_ID, revision="v9")


def test_missing_local_path_is_not_sent_to_the_hub(offline: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist: no such folder"):
        load_pretrained_model(str(tmp_path / "checkpoints" / "llava-v1.5-7b"))


def test_tower_id_missing_from_the_cache_points_at_the_override(offline: Path, hub: dict, tmp_path: Path) -> None:
    folder = tmp_path / "llava"
    shutil.copytree(hub["released"][1], folder)
    config = json.loads((folder / "config.json").read_text())
    config["mm_vision_tower"] = "fake-openai/clip-not-downloaded"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelNotFoundError, match="clip-not-downloaded.*vision_tower=<folder or hub id>"):
        load_pretrained_model(str(folder))


# ------------------------------------------------------------------------------------------------------- loading
def test_released_layout_by_id_equals_by_folder(offline: Path, hub: dict) -> None:
    tiny, folder, clip_folder = hub["released"]
    tokenizer, by_id, _, _ = load_pretrained_model(RELEASED_ID)
    _, by_folder, _, _ = load_pretrained_model(str(folder), vision_tower=str(clip_folder))
    expected = _logits(tiny.model, tiny.tokenizer)
    torch.testing.assert_close(_logits(by_id, tokenizer), _logits(by_folder, tokenizer), rtol=0, atol=0)
    torch.testing.assert_close(_logits(by_id, tokenizer), expected, rtol=0, atol=0)
    assert by_id.config.mm_vision_tower == CLIP_ID  # the id stays an id, so a re-save stays portable


def test_native_by_id_equals_by_folder_and_survives_a_save(offline: Path, hub: dict, tmp_path: Path) -> None:
    native_model, native = hub["native"]
    tokenizer, by_id, _, _ = load_pretrained_model(NATIVE_ID)
    _, by_folder, _, _ = load_pretrained_model(str(native))
    logits = _logits(by_id, tokenizer)
    torch.testing.assert_close(logits, _logits(by_folder, tokenizer), rtol=0, atol=0)
    torch.testing.assert_close(logits, _logits(native_model.model, native_model.tokenizer), rtol=1e-6, atol=1e-6)
    for model, name in ((by_id, "from-id"), (by_folder, "from-folder")):
        saved = tmp_path / name
        model.save_pretrained(saved)
        tokenizer.save_pretrained(saved)
        _, reloaded, processor, _ = load_pretrained_model(str(saved))
        torch.testing.assert_close(_logits(reloaded, tokenizer), logits, rtol=0, atol=0)
        assert processor.crop_size["height"] == 336
    assert json.loads((tmp_path / "from-id" / "config.json").read_text())["mm_vision_tower"] == NATIVE_ID


def test_eval_entry_point_and_duet_show_take_a_hub_id(offline: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (48, 40), (200, 30, 30)).save(images / "red.png")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question_id": "q0", "image": "red.png", "text": "What color is it?"}) + "\n")
    answers = tmp_path / "answers.jsonl"
    model_vqa_loader.main(
        ["--model-path", RELEASED_ID, "--question-file", str(questions), "--image-folder", str(images),
         "--answers-file", str(answers), "--num-workers", "0", "--temperature", "0", "--conv-mode", "vicuna_v1",
         "--max_new_tokens", "2"]  # fmt: skip
    )
    record = json.loads(answers.read_text())
    assert record["question_id"] == "q0" and record["model_id"] == "llava-v1.5-tiny"
    out = tmp_path / "trace.png"
    code = duet_cli(
        ["show", "--model-path", RELEASED_ID, "--image", str(images / "red.png"), "--question", "What color is it?",
         "--preset", "fastv:64", "--out", str(out)]  # fmt: skip
    )
    assert code == 0 and out.is_file()


def test_checkpoint_tower_weights_are_loaded_and_kept(offline: Path, hub: dict, tmp_path: Path) -> None:
    """A checkpoint that trained its tower holds the tower's weights: they win over `mm_vision_tower`, and survive."""
    tiny: TinyLlava = build_tiny_llava(seed=8)
    folder = save_released_layout(tiny, tmp_path / "unfrozen")
    with torch.no_grad():
        for param in tiny.model.get_vision_tower().parameters():
            param.add_(0.05)
    expected = _logits(tiny.model, tiny.tokenizer)
    tiny.model.get_vision_tower().weights_in_checkpoint = True
    tiny.model.save_pretrained(folder)
    tokenizer, model, _, _ = load_pretrained_model(str(folder))
    torch.testing.assert_close(_logits(model, tokenizer), expected, rtol=0, atol=0)
    model.save_pretrained(tmp_path / "again")
    tokenizer.save_pretrained(tmp_path / "again")
    _, again, _, _ = load_pretrained_model(str(tmp_path / "again"))
    torch.testing.assert_close(_logits(again, tokenizer), expected, rtol=0, atol=0)


def test_unreachable_hub_falls_back_to_the_cache(hub: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online mode (no HF_HUB_OFFLINE) on a node whose Hub endpoint refuses connections: the cache still serves."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("HF_HOME", str(hub["home"]))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    tiny = hub["released"][0]
    tokenizer, model, _, _ = load_pretrained_model(RELEASED_ID)
    torch.testing.assert_close(_logits(model, tokenizer), _logits(tiny.model, tiny.tokenizer), rtol=0, atol=0)
    with pytest.raises(ModelNotFoundError, match=r"'fake-liuhaotian/absent'.*the Hub could not be reached.*hf download"):
        resolve_model_folder("fake-liuhaotian/absent")
    with pytest.raises(ModelNotFoundError, match=r"absent/mm_projector\.bin.*could not be reached"):
        resolve_model_file("fake-liuhaotian/absent", "mm_projector.bin")


def test_one_weight_format_is_downloaded() -> None:
    files = ["config.json", "model-00001-of-00002.safetensors", "pytorch_model-00001-of-00002.bin", "tf_model.h5"]
    assert weight_patterns(files) == ["*.safetensors"]  # never both copies of a 7B model, never TF / Flax
    assert weight_patterns(["config.json", "pytorch_model.bin", "mm_projector.bin"]) == ["*.bin"]
