"""Video-LLaVA training with DUET on tiny models: Video-LLaVA's data format and flags, the data check, a few
optimizer steps on a mixed image / video / text batch, and the saved checkpoint loading through the builder."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from PIL import Image

from llava.constants import IMAGE_TOKEN_INDEX
from llava.model.builder import load_pretrained_model
from llava.testing.tiny_llava import save_tiny_base_models
from llava.testing.tiny_video_llava import build_tiny_video_llava, color_frames, save_tower_repos, write_video
from llava.train.train_video import train
from llava.train.video_data import VideoDataCollator, VideoSupervisedDataset
from llava.video.processing import LanguageBindVideoProcessor, languagebind_image_processor

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_DUET = ["--dominant_num", "20", "--context_num", "7", "--layer_list", "[2,3]",
             "--image_token_ratio_list", "[0.5,0.0]", "--t2v_query", "instruction"]  # fmt: skip


@pytest.fixture(scope="module")
def starting_point(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Vicuna, both LanguageBind tower repos with weights, and Video-LLaVA-style data."""
    root = tmp_path_factory.mktemp("video_train")
    llm, _ = save_tiny_base_models(root / "base")
    towers = save_tower_repos(root / "towers", weights_from=build_tiny_video_llava(seed=4))
    data = root / "data"
    for i in range(2):
        write_video(data / "videochatgpt_tune" / f"v_{i}.mp4", color_frames(9 + 2 * i, seed=i))
        Image.new("RGB", (40 + 10 * i, 30), (40 * i, 90, 200)).save(data / f"img{i}.png")
    videos = [{"id": f"vid{i}", "video": f"videochatgpt_tune/v_{i}.mp4",
               "conversations": [{"from": "human", "value": "<video>\nWhat is moving in the video?"},
                                 {"from": "gpt", "value": f"A square moves {'left' if i else 'right'}."}]}
              for i in range(2)]  # fmt: skip
    images = [{"id": f"img{i}", "image": f"img{i}.png",
               "conversations": [{"from": "human", "value": "What colour is this?\n<image>"},
                                 {"from": "gpt", "value": "Blue."}]} for i in range(2)]  # fmt: skip
    text = [{"id": "nlp0", "conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hi."}]}]
    (data / "videochatgpt_tune_.json").write_text(json.dumps(videos))
    (data / "llava_image_tune_.json").write_text(json.dumps(images))
    (data / "nlp_tune.json").write_text(json.dumps(text))
    return {"llm": llm, "image_tower": towers["LanguageBind/LanguageBind_Image"],
            "video_tower": towers["LanguageBind/LanguageBind_Video_merge"], "data": data}  # fmt: skip


def flags(start: dict[str, Path], output: Path, *extra: str) -> list[str]:
    data = start["data"]
    return ["--model_name_or_path", str(start["llm"]), "--version", "v1",
            "--data_path", str(data / "llava_image_tune_.json"), str(data / "videochatgpt_tune_.json"),
            str(data / "nlp_tune.json"),
            "--image_folder", str(data), "--video_folder", str(data),
            "--image_tower", str(start["image_tower"]), "--video_tower", str(start["video_tower"]),
            "--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2",
            "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False", "--image_aspect_ratio", "pad",
            "--group_by_modality_length", "True", "--output_dir", str(output), "--per_device_train_batch_size", "3",
            "--max_steps", "2", "--learning_rate", "1e-3", "--model_max_length", "256",
            "--tokenizer_model_max_length", "3072", "--save_strategy", "no", "--report_to", "none",
            "--logging_steps", "1", "--dataloader_num_workers", "0", "--use_cpu", "True", *extra]  # fmt: skip


def test_dataset_widens_the_video_placeholder_to_one_per_frame(starting_point) -> None:
    from llava.testing.tiny_tokenizer import build_tiny_tokenizer

    data = starting_point["data"]
    records = json.loads((data / "videochatgpt_tune_.json").read_text())
    records += json.loads((data / "llava_image_tune_.json").read_text())
    dataset = VideoSupervisedDataset(records, build_tiny_tokenizer(), "v1", languagebind_image_processor(224), str(data),
                                     "pad", LanguageBindVideoProcessor(), str(data))  # fmt: skip
    video, image = dataset[0], dataset[2]
    assert int((video["input_ids"] == IMAGE_TOKEN_INDEX).sum()) == 8
    sentinels = (video["input_ids"] == IMAGE_TOKEN_INDEX).nonzero().flatten().tolist()
    assert sentinels == list(range(sentinels[0], sentinels[0] + 8))  # one run of 8, like "<image>" * 8
    assert bool((video["labels"][video["input_ids"] == IMAGE_TOKEN_INDEX] == -100).all())
    assert video["images"][0].shape == (3, 8, 224, 224) and image["images"][0].shape == (3, 224, 224)
    batch = VideoDataCollator(pad_token_id=0)([video, image])
    assert [tuple(x.shape) for x in batch["images"]] == [(3, 8, 224, 224), (3, 224, 224)]
    assert dataset.modality_lengths[0] > 0 and dataset.modality_lengths[2] > 0


def test_trains_under_duet_and_saves_a_loadable_checkpoint(starting_point, tmp_path: Path) -> None:
    output = tmp_path / "videollava-tiny-duet"
    trainer = train(flags(starting_point, output, *TINY_DUET))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    tokenizer, model, processors, _ = load_pretrained_model(str(output), None, "x", device="cpu")
    assert model.config.temporal_attention is True and model.duet.dominant == 20
    # The towers stayed frozen: they still hold the LanguageBind repositories' weights.
    repo = torch.load(starting_point["video_tower"] / "pytorch_model.bin", weights_only=True)
    key = "encoder.layers.0.temporal_attn.q_proj.weight"
    torch.testing.assert_close(model.get_video_tower().model.state_dict()[key], repo[f"vision_model.{key}"])
    pixels = processors["video"].preprocess(str(starting_point["data"] / "videochatgpt_tune" / "v_0.mp4"))
    ids = tokenizer("USER: what is moving? ASSISTANT:").input_ids
    prompt = torch.tensor([ids[:3] + [IMAGE_TOKEN_INDEX] * 8 + ids[3:]])
    answer = model.generate(prompt, images=[pixels["pixel_values"][0]], max_new_tokens=2, do_sample=False)
    assert answer.shape == (1, 2)


def test_data_check_refuses_a_missing_video_before_building_the_model(starting_point, tmp_path: Path, caplog) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = [{"id": "gone", "video": "nowhere.mp4",
            "conversations": [{"from": "human", "value": "<video>\nWhat?"}, {"from": "gpt", "value": "X."}]}]  # fmt: skip
    (data / "bad.json").write_text(json.dumps(bad))
    argv = flags(starting_point, tmp_path / "out")
    argv[argv.index("--data_path") : argv.index("--image_folder")] = ["--data_path", str(data / "bad.json")]
    argv[argv.index("--video_folder") + 1] = str(data)
    with pytest.raises(SystemExit):
        train(argv)
    assert "missing_video" in caplog.text or "nowhere.mp4" in caplog.text


def test_finetune_script_keeps_global_batch_and_passes_video_llava_flags(tmp_path: Path) -> None:
    stub = tmp_path / "bin" / "deepspeed"
    stub.parent.mkdir()
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    projector = tmp_path / "mm_projector.bin"
    projector.write_bytes(b"")
    env = {**os.environ, "PATH": f"{stub.parent}:{os.environ['PATH']}", "NUM_GPUS": "4", "PRETRAIN": str(projector)}
    result = subprocess.run(["bash", "scripts/finetune_video_duet.sh", "136", "--max_steps", "3"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    def value(flag: str) -> str:
        return lines[lines.index(flag) + 1]

    assert value("--gradient_accumulation_steps") == "2" and value("--per_device_train_batch_size") == "16"
    assert (
        value("--duet_preset") == "video-llava:136"
        and value("--video_tower") == "LanguageBind/LanguageBind_Video_merge"
    )
    assert value("--tokenizer_model_max_length") == "3072" and value("--deepspeed") == "./configs/deepspeed/zero2.json"
    assert lines[lines.index("--data_path") + 1 : lines.index("--data_path") + 4][-1].endswith("nlp_tune.json")
    assert lines[-2:] == ["--max_steps", "3"]
    from llava.train.video_arguments import parse_video_arguments

    launched = lines[lines.index("llava/train/train_video.py") + 1 :]
    launched[launched.index("--deepspeed") : launched.index("--deepspeed") + 2] = []
    model_args, data_args, training_args, duet_args = parse_video_arguments([*launched, "--use_cpu", "True"])
    assert len(data_args.data_path) == 3 and training_args.context_length == 3072
    assert model_args.image_tower == "LanguageBind/LanguageBind_Image" and duet_args.duet_preset == "video-llava:136"

    lora = subprocess.run(["bash", "scripts/finetune_video_duet.sh", "960"], cwd=REPO_ROOT,
                          env={**env, "LORA": "1"}, capture_output=True, text=True)  # fmt: skip
    assert lora.returncode == 0, lora.stderr
    lora_lines = lora.stdout.splitlines()
    assert lora_lines[lora_lines.index("--lora_r") + 1] == "128"
    assert lora_lines[lora_lines.index("--learning_rate") + 1] == "2e-4"


@pytest.mark.parametrize("mode", ["lora", "projector"])
def test_lora_and_projector_outputs_load_with_model_base(starting_point, tmp_path: Path, mode: str) -> None:
    """Video-LLaVA's finetune_lora.sh and pretrain.sh outputs hold neither the LLM nor the towers: `model_base`
    supplies the LLM, the towers come from the repositories their config names."""
    output = tmp_path / mode
    extra = (["--lora_enable", "True", "--lora_r", "4", "--lora_alpha", "8", "--mm_projector_lr", "1e-3"]
             if mode == "lora" else ["--tune_mm_mlp_adapter", "True"])  # fmt: skip
    argv = flags(starting_point, output, "--max_steps", "1", *extra)
    trainer = train(argv)
    trained = (
        trainer.model.get_model().mm_projector
        if mode == "projector"
        else trainer.model.base_model.model.get_model().mm_projector
    )
    expected = {k: v.detach().clone() for k, v in trained.state_dict().items()}
    assert (output / ("adapter_config.json" if mode == "lora" else "mm_projector.bin")).is_file()
    _, model, _, _ = load_pretrained_model(str(output), str(starting_point["llm"]), "x", device="cpu")
    for key, value in expected.items():
        torch.testing.assert_close(model.get_model().mm_projector.state_dict()[key], value)
    repo = torch.load(starting_point["image_tower"] / "pytorch_model.bin", weights_only=True)
    key = "encoder.layers.1.mlp.fc1.weight"
    torch.testing.assert_close(model.get_image_tower().model.state_dict()[key], repo[f"vision_model.{key}"])
