"""End to end: a tiny Video-LLaVA loaded through the builder answers about an mp4 the test writes, under every video
preset (the decoder has 32 layers so the paper's T2V stages 16 and 24 exist)."""

from pathlib import Path

import pytest
import torch

import duet
from llava.eval.decoding import left_pad
from llava.eval.prompting import build_prompt
from llava.mm_utils import tokenizer_image_token
from llava.model.builder import load_pretrained_model
from llava.testing.tiny_video_llava import (
    build_tiny_video_llava,
    color_frames,
    install_in_hub_cache,
    save_hf_layout,
    save_original_layout,
    save_tower_repos,
    write_video,
)
from llava.video.frames import read_video_frames
from tests.video.conftest import use_fake_hub

VIDEO_PRESETS = {"full": (2056, []), "video-llava:960": (1536, [768, 0]), "video-llava:136": (216, [108, 0])}


@pytest.fixture(scope="module")
def deep_original(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    root = tmp_path_factory.mktemp("video_gen")
    tiny = build_tiny_video_llava(seed=2, llama_overrides={"num_hidden_layers": 32})
    folder = save_original_layout(tiny, root)
    save_hf_layout(tiny, root)
    for repo_id, tower in save_tower_repos(root / "towers").items():
        install_in_hub_cache(root / "hub", repo_id, tower)
    videos = [write_video(root / f"clip{i}.mp4", color_frames(12 + 7 * i, seed=i)) for i in range(2)]
    return folder, root / "hub", videos


@pytest.fixture(scope="module")
def loaded(deep_original):
    folder, hub, _ = deep_original
    with pytest.MonkeyPatch.context() as patch:
        use_fake_hub(patch, hub)
        return load_pretrained_model(str(folder), None, "Video-LLaVA-7B", device="cpu")


def video_prompt(tokenizer, question: str) -> torch.Tensor:
    return tokenizer_image_token(
        build_prompt("llava_v1", "<image>" * 8 + "\n" + question), tokenizer, return_tensors="pt"
    )


@pytest.mark.parametrize("preset", list(VIDEO_PRESETS))
def test_answers_about_a_written_mp4_under_each_video_preset(deep_original, loaded, preset: str) -> None:
    _, _, videos = deep_original
    tokenizer, model, processors, _ = loaded
    duet.apply(model, preset)
    pixels = processors["video"].preprocess(str(videos[0]), return_tensors="pt")["pixel_values"][0]
    ids = video_prompt(tokenizer, "What is moving?").unsqueeze(0)
    with torch.no_grad():
        out = model(input_ids=ids, images=[pixels])
        answer = model.generate(ids, images=[pixels], max_new_tokens=3, do_sample=False, use_cache=True)
    n0, stages = VIDEO_PRESETS[preset]
    assert int(out.visual_token_mask.sum()) == n0
    assert [int(mask.sum()) for mask in out.t2v_keep_masks or []] == stages
    text = tokenizer.decode(answer[0], skip_special_tokens=True)
    assert answer.shape == (1, 3) and text.strip()
    assert model.config.temporal_attention is True


def test_video_batch_equals_videos_one_by_one_under_duet(deep_original, loaded) -> None:
    """Left-padded batches of different prompts and videos generate what each sample generates alone."""
    _, _, videos = deep_original
    tokenizer, model, processors, _ = loaded
    duet.apply(model, "video-llava:136")
    pixels = [processors["video"].preprocess(str(v), return_tensors="pt")["pixel_values"][0] for v in videos]
    prompts = [video_prompt(tokenizer, q) for q in ("What is moving?", "Which colour is the square in the corner?")]
    pad = tokenizer.pad_token_id
    ids, mask = left_pad(prompts, pad)
    with torch.no_grad():
        batch = model.generate(
            ids, attention_mask=mask, images=pixels, max_new_tokens=3, do_sample=False, pad_token_id=pad
        )
        alone = [
            model.generate(p.unsqueeze(0), images=[v], max_new_tokens=3, do_sample=False, pad_token_id=pad)
            for p, v in zip(prompts, pixels, strict=True)
        ]
    for row, single in zip(batch, alone, strict=True):
        assert row.tolist() == single[0].tolist()


@pytest.mark.parametrize("preset", list(VIDEO_PRESETS))
def test_hf_layout_answers_about_a_written_mp4_under_each_video_preset(deep_original, preset: str) -> None:
    """The -hf checkpoint through the builder with `duet=`: transformers' class adopted by `duet.apply`."""
    folder, _, videos = deep_original
    tokenizer, model, processor, _ = load_pretrained_model(
        str(folder.parent / "Video-LLaVA-7B-hf"), None, "x", device="cpu", duet=preset
    )
    assert type(model).__name__ == ("VideoLlavaForConditionalGeneration" if preset == "full" else
                                    "DuetVideoLlavaForConditionalGeneration")  # fmt: skip
    frames = read_video_frames(videos[0], 8)
    inputs = processor(text=build_prompt("llava_v1", "<video>\nWhat is moving?"), videos=[frames], return_tensors="pt")
    with torch.no_grad():
        answer = model.generate(**inputs, max_new_tokens=3, do_sample=False)
        out = model(**inputs) if preset != "full" else None
    if out is not None:
        n0, stages = VIDEO_PRESETS[preset]
        assert int(out.visual_token_mask.sum()) == n0
        assert [int(mask.sum()) for mask in out.t2v_keep_masks] == stages
    text = tokenizer.decode(answer[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer.shape[1] == inputs["input_ids"].shape[1] + 3 and text.strip()
    assert model.config.temporal_attention is False
