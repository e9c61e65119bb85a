"""Helpers for the training tests: small LLaVA-format datasets, the common flags, running `train()`.

The base models are what LLaVA training starts from, at toy size (`save_tiny_base_models`): a Vicuna-like LLM
folder with its tokenizer (4 decoder layers) and a CLIP folder at 224 px (16 × 16 = 256 patches). The DUET
setting is the paper's schedule scaled to that geometry: V2V keeps 40 dominant (CLS included) + 8 contextual
tokens, T2V halves them after layer 2 and drops the rest after layer 3, so the layers hold 48, 48, 24, 0.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parents[2]
# A hang (ranks running different modules under ZeRO-3) fails the test instead of blocking the suite.
RUN_TIMEOUT_S = 420

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220), "yellow": (230, 220, 40)}
SHAPES = ("square", "circle")
TINY_DUET_FLAGS = ["--dominant_num", "40", "--context_num", "8", "--cluster_width", "4",
                   "--layer_list", "[2,3]", "--image_token_ratio_list", "[0.5,0.0]"]
TINY_LAYERS, TINY_PATCHES = 4, 256


def draw_image(path: Path, colour: str, shape: str, size: tuple[int, int]) -> None:
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    box = (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4)
    (draw.rectangle if shape == "square" else draw.ellipse)(box, fill=COLOURS[colour])
    image.save(path)


def image_record(folder: Path, index: int, template: str, rng: random.Random) -> dict:
    colour, shape = rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
    name = f"img_{index}.png"
    draw_image(folder / name, colour, shape, (rng.choice([40, 56]), rng.choice([32, 48])))
    if template == "plain":
        turns = [("human", "Describe the image.\n<image>"), ("gpt", f"A {colour} {shape}.")]
    else:
        turns = [("human", f"<image>\nWhat color is the {shape}?"), ("gpt", f"The {shape} is {colour}.")]
    return {"id": f"img-{index}", "image": name, "conversations": [{"from": f, "value": v} for f, v in turns]}


def text_record(index: int, rng: random.Random) -> dict:
    a, b = rng.randint(1, 4), rng.randint(1, 4)
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")
    turns = [("human", f"What is {words[a]} and {words[b]}?"), ("gpt", f"It is {words[a + b]}.")]
    return {"id": f"txt-{index}", "conversations": [{"from": f, "value": v} for f, v in turns]}


def write_dataset(folder: Path, template: str, pattern: str, seed: int = 0) -> Path:
    """`pattern` lists the entries in order: `i` = image sample, `t` = text-only (v1 only). Returns the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    records = [image_record(folder, i, template, rng) if kind == "i" else text_record(i, rng) for i, kind in enumerate(pattern)]
    path = folder / "data.json"
    path.write_text(json.dumps(records, indent=1))
    return path


def common_flags(base_models: tuple[Path, Path], data: Path, output_dir: Path, version: str) -> list[str]:
    """LLaVA's flags for a tiny CPU run (fp32, no reporting, no saving unless a test asks for it)."""
    llm, clip = base_models
    return [
        "--model_name_or_path", str(llm),
        "--version", version,
        "--data_path", str(data),
        "--image_folder", str(data.parent),
        "--vision_tower", str(clip),
        "--mm_projector_type", "mlp2x_gelu",
        "--mm_vision_select_layer", "-2",
        "--mm_use_im_start_end", "False",
        "--mm_use_im_patch_token", "False",
        "--image_aspect_ratio", "pad",
        "--output_dir", str(output_dir),
        "--use_cpu", "True",
        "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1",
        "--model_max_length", "512",
        "--logging_steps", "1",
        "--save_strategy", "no",
        "--report_to", "none",
        "--dataloader_num_workers", "0",
        "--disable_tqdm", "True",
        "--seed", "0",
    ]


def run_training(flags: list[str]):
    """`llava.train.train.train(flags)` in this process; returns the trainer."""
    from llava.train.train import train

    return train(flags)


def logged_losses(trainer_state: Path) -> dict[int, float]:
    """`{step: loss}` from a `trainer_state.json`."""
    history = json.loads(trainer_state.read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(
    flags: list[str],
    log: Path,
    extra_env: dict[str, str] | None = None,
    script: str = "llava/train/train.py",
    processes: int = 2,
) -> None:
    """`deepspeed --num_gpus N <script> FLAGS` from the repository root, as users launch LLaVA; fails with the log's
    tail on a non-zero exit or after `RUN_TIMEOUT_S`."""
    launcher = shutil.which("deepspeed", path=str(Path(sys.executable).parent)) or "deepspeed"
    command = [launcher, "--num_gpus", str(processes), "--master_port", str(free_port()), script, *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), **(extra_env or {})}
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"deepspeed run hung for {RUN_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")
    assert code == 0, log.read_text()[-4000:]
