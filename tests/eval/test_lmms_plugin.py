"""The `duet_llava` lmms-eval model, run by the real `lmms-eval` CLI and `simple_evaluate`, fully offline.

lmms-eval lives in the layered environment `python -m llava.eval.lmms_env` builds (cached in .cache/lmms-env; the
first build installs lmms-eval 0.7.3 and the `lmms` extra from PyPI). The tiny task is a `datasets` DatasetDict saved
to disk (`load_from_disk: true`). Its metric is exact match against answers that this codebase's own generator
(`model_vqa_loader`) gives for the same prompts under the same DUET preset, with one answer made wrong on purpose:
the plugin scores 2/3 only if it reproduces the generator's prompts, pixels, query masks and decoding.

lmms-eval exits 0 even when the evaluation fails inside it (measured: filelock 4.3), so success here means the
results file exists and holds the metric, never the exit code.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from llava.eval import lmms_backends, lmms_env, model_vqa_loader
from llava.testing.tiny_llava import build_tiny_llava, save_released_layout
from llava.testing.tiny_llava_hf import save_llava_hf_layout
from tests.eval.conftest import read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[2]
TASK = "duet_tiny_vqa"
SUFFIX = "\nAnswer the question using a single word or phrase."
QUESTIONS = ["What colour is the square?", "Is the image noisy?", "What is in the corner?"]
PRESET = "llava-1.5:64"
TASK_UTILS = """
def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def doc_to_text(doc):
    return doc["question"] + "\\nAnswer the question using a single word or phrase."


def process_results(doc, results):
    return {"match": float(results[0] == doc["answer"])}
"""


class LmmsEvalFailed(AssertionError):
    """lmms-eval produced no results (whatever its exit code)."""


def results_of(output_dir: Path, task: str, metric: str) -> float:
    """The metric from lmms-eval's results file; a missing file or metric is a failed evaluation."""
    files = sorted(output_dir.rglob("*_results.json"))
    if not files:
        raise LmmsEvalFailed(f"lmms-eval wrote no results file under {output_dir}: the evaluation failed inside it")
    results = json.loads(files[-1].read_text())["results"]
    if task not in results or f"{metric},none" not in results[task]:
        raise LmmsEvalFailed(f"{files[-1]} has no {metric} for {task}: {results}")
    return results[task][f"{metric},none"]


@pytest.fixture(scope="module")
def lmms_eval_command() -> Path:
    return lmms_env.build(REPO / ".cache" / "lmms-env")


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (36 + 10 * i, 48, 3), dtype=np.uint8)) for i in range(3)]


def _write_task(root: Path, images: list[Image.Image], generated: list[str]) -> Path:
    """A `load_from_disk` task whose answers are ``generated`` with the last one made wrong on purpose (2/3)."""
    from datasets import Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature

    answers = [generated[0], generated[1], generated[2] + " (not what the model says)"]
    features = Features({"question_id": Value("int64"), "question": Value("string"), "answer": Value("string"),
                         "image": ImageFeature()})  # fmt: skip
    data = Dataset.from_dict({"question_id": [0, 1, 2], "question": QUESTIONS, "answer": answers, "image": images},
                             features=features)  # fmt: skip
    DatasetDict({"test": data}).save_to_disk(str(root / "data"))
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "utils.py").write_text(TASK_UTILS)
    (tasks / f"{TASK}.yaml").write_text(
        f"task: {TASK}\ndataset_path: {root / 'data'}\ndataset_kwargs:\n  load_from_disk: true\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_visual: !function utils.doc_to_visual\n"
        "doc_to_text: !function utils.doc_to_text\ndoc_to_target: answer\n"
        "generation_kwargs:\n  max_new_tokens: 4\n  temperature: 0\n  do_sample: false\n"
        "process_results: !function utils.process_results\n"
        "metric_list:\n  - metric: match\n    aggregation: mean\n    higher_is_better: true\n"
        "metadata:\n  - version: 0.0\n"
    )
    return tasks


@pytest.fixture(scope="module")
def tiny_task(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint with 32 layers so the paper preset runs unmodified, task folder), answers fixed by the generator."""
    root = tmp_path_factory.mktemp("lmms")
    checkpoint = save_released_layout(build_tiny_llava(seed=5, llama_overrides={"num_hidden_layers": 32}), root / "ck")
    images = _images()
    (root / "images").mkdir()
    for i, image in enumerate(images):
        image.save(root / "images" / f"{i}.png")
    write_jsonl(root / "questions.jsonl", [{"question_id": i, "image": f"{i}.png", "text": q + SUFFIX}
                                          for i, q in enumerate(QUESTIONS)])  # fmt: skip
    model_vqa_loader.main(["--model-path", str(checkpoint), "--question-file", str(root / "questions.jsonl"),
                           "--image-folder", str(root / "images"), "--answers-file", str(root / "answers.jsonl"),
                           "--temperature", "0", "--conv-mode", "vicuna_v1", "--max_new_tokens", "4",
                           "--num-workers", "0", "--duet-preset", PRESET])  # fmt: skip
    return checkpoint, _write_task(root, images, [r["text"] for r in read_jsonl(root / "answers.jsonl")])


def _direct_llava_hf_answers(folder: Path, images: list[Image.Image]) -> list[str]:
    """transformers' own LLaVA under `duet.apply`, fed by its processor, with the salient query mask: no lmms-eval."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    import duet
    from llava.duet_queries import build_processor_query_mask
    from llava.eval.prompting import build_prompt

    model = duet.apply(LlavaForConditionalGeneration.from_pretrained(folder).eval(), PRESET)
    processor = AutoProcessor.from_pretrained(folder)
    answers = []
    for image, question in zip(images, QUESTIONS, strict=True):
        text = question + SUFFIX
        prompt = build_prompt("vicuna_v1", "<image>\n" + text)
        inputs = processor(images=image.convert("RGB"), text=prompt, return_tensors="pt")
        mask = build_processor_query_mask(processor, prompt, text, inputs.input_ids[0].tolist())
        out = model.generate(**inputs, t2v_query_mask=torch.tensor([mask]), max_new_tokens=4, do_sample=False)
        answers.append(processor.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True).strip())
    return answers


@pytest.fixture(scope="module")
def tiny_llava_hf_task(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(llava-hf folder of a 32-layer tiny model, task folder), answers from transformers' class directly."""
    root = tmp_path_factory.mktemp("lmms-hf")
    folder = save_llava_hf_layout(build_tiny_llava(seed=5, llama_overrides={"num_hidden_layers": 32}), root / "hf")
    images = _images()
    return folder, _write_task(root, images, _direct_llava_hf_answers(folder, images))


def _offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


def _cli(command: Path, model_args: str, tasks: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(command), "--model", "duet_llava", "--model_args", model_args, "--tasks", TASK, "--include_path",
         str(tasks), "--batch_size", "2", "--output_path", str(output)],
        env=_offline_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def test_lmms_eval_cli_runs_the_task_through_the_plugin(
    lmms_eval_command: Path, tiny_task: tuple[Path, Path], tmp_path: Path
) -> None:
    checkpoint, tasks = tiny_task
    result = _cli(lmms_eval_command, f"pretrained={checkpoint},duet_preset={PRESET}", tasks, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert results_of(tmp_path / "out", TASK, "match") == pytest.approx(2 / 3), result.stdout[-2000:]


def test_a_llava_hf_checkpoint_runs_on_transformers_class(
    lmms_eval_command: Path, tiny_llava_hf_task: tuple[Path, Path], tmp_path: Path
) -> None:
    """`pretrained=<llava-hf folder>` evaluates transformers' `LlavaForConditionalGeneration` under the engine."""
    folder, tasks = tiny_llava_hf_task
    result = _cli(lmms_eval_command, f"pretrained={folder},duet_preset={PRESET}", tasks, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert results_of(tmp_path / "out", TASK, "match") == pytest.approx(2 / 3), result.stdout[-2000:]


def test_simple_evaluate_runs_the_task_through_the_plugin(
    lmms_eval_command: Path, tiny_task: tuple[Path, Path]
) -> None:
    checkpoint, tasks = tiny_task
    script = (
        "import json, sys\n"
        "from lmms_eval.evaluator import simple_evaluate\n"
        "from lmms_eval.tasks import TaskManager\n"
        f"out = simple_evaluate(model='duet_llava', model_args='pretrained={checkpoint},duet_preset={PRESET}', "
        f"tasks=['{TASK}'], batch_size=1, task_manager=TaskManager(include_path='{tasks}'))\n"
        f"print('RESULT', json.dumps(out['results']['{TASK}']['match,none']))\n"
    )
    python = lmms_eval_command.parent / "python"
    result = subprocess.run(
        [str(python), "-c", script], env=_offline_env(), capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    assert json.loads(line.removeprefix("RESULT ")) == pytest.approx(2 / 3)


def test_an_evaluation_that_fails_inside_lmms_eval_is_caught(
    lmms_eval_command: Path, tiny_task: tuple[Path, Path], tmp_path: Path
) -> None:
    """lmms-eval catches the model's error, logs it and exits 0: only the missing results reveal it."""
    checkpoint, tasks = tiny_task
    result = _cli(lmms_eval_command, f"pretrained={checkpoint},duet_preset=no-such-preset", tasks, tmp_path / "out")
    assert "unknown DUET preset 'no-such-preset'" in result.stdout + result.stderr
    with pytest.raises(LmmsEvalFailed, match="wrote no results file"):
        results_of(tmp_path / "out", TASK, "match")


def test_the_layered_environment_keeps_this_torch(lmms_eval_command: Path) -> None:
    python = lmms_eval_command.parent / "python"
    probe = "import torch, transformers, filelock, importlib.util as u; print(torch.__file__); print(filelock.__version__); print(u.find_spec('torchvision'))"
    lines = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    import torch

    assert lines[0] == torch.__file__  # the same torch, not a copy or another build
    assert tuple(int(x) for x in lines[1].split(".")[:2]) < (4, 3)
    assert lines[2] == "None"  # no torchvision: CLIPImageProcessor keeps LLaVA's PIL pixels


def test_backend_choice(tmp_path: Path) -> None:
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(
        json.dumps({"model_type": "llava", "text_config": {}, "vision_config": {}})
    )
    (tmp_path / "released").mkdir()
    (tmp_path / "released" / "config.json").write_text(
        json.dumps({"model_type": "llava_llama", "mm_vision_tower": "x"})
    )
    assert lmms_backends.select_backend(str(tmp_path / "released")) is lmms_backends.LlavaBackend
    assert lmms_backends.select_backend(str(tmp_path / "hf")) is lmms_backends.HfLlavaBackend
    assert lmms_backends.cut_at_stop("yes</s>more\n\nUSER:", ["</s>", "USER:"]) == "yes"


def test_manifest_is_registered() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="lmms_eval.models") if e.name == "duet_llava"]
    assert entry.value == "llava.eval.lmms_manifest:manifest"
