"""LLaVA-1.5's own training scripts run here as written: `deepspeed llava/train/train_mem.py` with their flag sets.

The flags are read from verbatim copies of LLaVA's `scripts/v1_5/{pretrain,finetune,finetune_lora,
finetune_task_lora}.sh` (`tests/train/llava_scripts/`, source commit in each file's header). A run changes only the
data / output paths, the batch size and the step count, and adds `--use_cpu True`; every other flag is LLaVA's,
including the hub ids: `lmsys/vicuna-13b-v1.5`, `openai/clip-vit-large-patch14-336` and `liuhaotian/llava-v1.5-13b`
are served offline from a Hugging Face cache the test writes (`HF_HOME`, `HF_HUB_OFFLINE=1`), holding tiny models
with the real ones' layout. `--bf16 True` stays (bf16 runs on CPU), as do `--deepspeed ./scripts/zero{2,3}.json`,
`--tf32 True` (dropped with a log line where there is no TF32), `--gradient_checkpointing True` and `--report_to
wandb` (W&B disabled through its environment variable, not a flag).

The runs share work: pretraining's projector feeds the finetune and LoRA runs, and the finetuned model is put into
the cache as `liuhaotian/llava-v1.5-13b` for the task-LoRA run, as users chain the scripts. `finetune_lora.sh` runs on
two processes: LoRA + bf16 + ZeRO-3 is the combination that DeepSpeed refused with an AssertionError when PEFT's fp32
adapters met the bf16 projector; the others run on one to keep the suite fast.
"""

import json
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from llava.model.builder import load_pretrained_model
from llava.testing.fake_hub import add_to_hub_cache
from llava.testing.tiny_llava import random_images, save_tiny_base_models
from tests.llava.helpers import PROMPTS, encode
from tests.train.tiny_runs import launch, logged_losses, write_dataset

SCRIPTS = Path(__file__).parent / "llava_scripts"
LLM_ID, TOWER_ID, LLAVA_ID = "lmsys/vicuna-13b-v1.5", "openai/clip-vit-large-patch14-336", "liuhaotian/llava-v1.5-13b"
# What a run may change: where data and outputs live, how big a batch is, how many steps (and CPU instead of GPUs).
CHANGEABLE = {"--data_path", "--image_folder", "--output_dir", "--pretrain_mm_mlp_adapter", "--per_device_train_batch_size"}
ADDED = {"--max_steps", "--use_cpu"}


def script_flags(name: str) -> list[str]:
    """The flags of the `deepspeed llava/train/train_mem.py ...` command in LLaVA's script `name`."""
    lines = [line for line in (SCRIPTS / f"{name}.sh").read_text().splitlines() if not line.startswith("#")]
    argv = shlex.split(" ".join(line.rstrip("\\") for line in lines))
    assert argv[:2] == ["deepspeed", "llava/train/train_mem.py"], argv[:2]
    return argv[2:]


def adapted(name: str, changes: dict[str, str]) -> list[str]:
    """LLaVA's flags with `changes` applied; only `CHANGEABLE` flags may change and only `ADDED` ones be added."""
    flags = script_flags(name)
    for flag, value in changes.items():
        if flag in flags:
            assert flag in CHANGEABLE, f"{flag} is LLaVA's setting and must stay as written"
            flags[flags.index(flag) + 1] = value
        else:
            assert flag in ADDED, f"{flag} is not in {name}.sh and may not be added"
            flags += [flag, value]
    return flags


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The cache with LLaVA's two starting points (tiny, real layouts) and the environment that serves it offline."""
    root = tmp_path_factory.mktemp("llava-scripts")
    llm, clip = save_tiny_base_models(root / "base", image_size=336)
    home = root / "hf_home"
    add_to_hub_cache(home / "hub", LLM_ID, llm)
    add_to_hub_cache(home / "hub", TOWER_ID, clip)
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    return {"root": root, "home": home, "env": env, "pretrain_data": write_dataset(root / "pretrain", "plain", "iiii"),
            "finetune_data": write_dataset(root / "finetune", "v1", "itit")}  # fmt: skip


@pytest.fixture
def offline(hub: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process sees the same cache as the runs (for loading their outputs by hub id)."""
    for key, value in hub["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


def run_script(hub: dict, name: str, data: Path, processes: int = 1, **changes: str) -> Path:
    output = hub["root"] / f"out-{name}"
    flags = adapted(name, {
        "--data_path": str(data), "--image_folder": str(data.parent), "--output_dir": str(output),
        "--per_device_train_batch_size": "2", "--max_steps": "2", "--use_cpu": "True",
        **{f"--{flag}": value for flag, value in changes.items()},
    })  # fmt: skip
    launch(flags, hub["root"] / f"{name}.log", hub["env"], script="llava/train/train_mem.py", processes=processes)
    return output


@pytest.fixture(scope="module")
def pretrain(hub: dict) -> Path:
    return run_script(hub, "pretrain", hub["pretrain_data"])


@pytest.fixture(scope="module")
def finetune(hub: dict, pretrain: Path) -> Path:
    return run_script(hub, "finetune", hub["finetune_data"], pretrain_mm_mlp_adapter=str(pretrain / "mm_projector.bin"))


def _logits(model, tokenizer) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=encode(tokenizer, PROMPTS[0]).unsqueeze(0), images=random_images(1)).logits


def test_the_scripts_are_llava_s_and_their_deepspeed_configs_exist() -> None:
    for name in ("pretrain", "finetune", "finetune_lora", "finetune_task_lora"):
        flags = script_flags(name)
        config = Path(__file__).resolve().parents[2] / flags[flags.index("--deepspeed") + 1]
        assert config.is_file() and json.loads(config.read_text())["zero_optimization"]["stage"] in (2, 3)
        assert flags[flags.index("--bf16") + 1] == "True"
        assert ("--lora_enable" in flags) == name.endswith("lora")
    assert (Path(__file__).resolve().parents[2] / "scripts" / "zero3_offload.json").is_file()


@pytest.mark.deepspeed
def test_pretrain_sh(pretrain: Path, hub: dict) -> None:
    weights = torch.load(pretrain / "mm_projector.bin", weights_only=True)
    assert sorted(weights) == [f"model.mm_projector.{i}.{k}" for i in (0, 2) for k in ("bias", "weight")]
    assert {w.dtype for w in weights.values()} == {torch.bfloat16}
    assert json.loads((pretrain / "config.json").read_text())["mm_vision_tower"] == TOWER_ID
    assert len(logged_losses(pretrain / "trainer_state.json")) == 2


@pytest.mark.deepspeed
def test_finetune_sh_loads_by_folder(finetune: Path, offline: None) -> None:
    config = json.loads((finetune / "config.json").read_text())
    assert config["mm_vision_tower"] == TOWER_ID and config["image_aspect_ratio"] == "pad"
    tokenizer, model, _, _ = load_pretrained_model(str(finetune))
    assert bool(torch.isfinite(_logits(model, tokenizer)).all())
    assert len(logged_losses(finetune / "trainer_state.json")) == 2


@pytest.mark.deepspeed
def test_finetune_lora_sh_on_two_processes_in_bf16_under_zero3(
    hub: dict, pretrain: Path, offline: None, capsys: pytest.CaptureFixture
) -> None:
    output = run_script(
        hub, "finetune_lora", hub["finetune_data"], processes=2,
        pretrain_mm_mlp_adapter=str(pretrain / "mm_projector.bin"),
    )  # fmt: skip
    adapter = torch.load(output / "non_lora_trainables.bin", weights_only=True)
    assert {w.dtype for w in adapter.values()} == {torch.bfloat16}  # one dtype for DeepSpeed, as LLaVA casts
    assert json.loads((output / "adapter_config.json").read_text())["r"] == 128
    assert len(logged_losses(output / "trainer_state.json")) == 2
    tokenizer, model, _, _ = load_pretrained_model(str(output), LLM_ID)  # the base by hub id, as LLaVA's eval does
    assert bool(torch.isfinite(_logits(model, tokenizer)).all())


@pytest.mark.deepspeed
def test_finetune_task_lora_sh_from_a_released_checkpoint_id(hub: dict, finetune: Path, offline: None) -> None:
    released = hub["root"] / "released"
    released.mkdir()
    for file in finetune.iterdir():  # the checkpoint as it is published: final files only
        if file.is_file() and file.name not in ("trainer_state.json", "training_args.bin"):
            shutil.copy(file, released / file.name)
    add_to_hub_cache(hub["home"] / "hub", LLAVA_ID, released)
    output = run_script(hub, "finetune_task_lora", hub["finetune_data"])
    assert (output / "adapter_model.safetensors").is_file() and (output / "non_lora_trainables.bin").is_file()
    tokenizer, model, _, _ = load_pretrained_model(str(output), LLAVA_ID)
    assert bool(torch.isfinite(_logits(model, tokenizer)).all())
