"""The shell drivers: syntax, the multi-GPU chunk/merge helper, and one full benchmark through `paper_table.sh`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.eval.conftest import write_images, write_jsonl

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "v1_5" / "eval"


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
def test_script_syntax(script: str) -> None:
    subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=True)


def test_run_chunked_runs_one_process_per_gpu_and_merges_in_order(tmp_path: Path) -> None:
    # The stand-in generator writes one record naming its chunk and the GPU it was given.
    fake = (
        "import json, os, sys; a = sys.argv; path = a[a.index('--answers-file') + 1]; "
        "open(path, 'w').write(json.dumps({'chunk': a[a.index('--chunk-idx') + 1], "
        "'of': a[a.index('--num-chunks') + 1], 'gpu': os.environ['CUDA_VISIBLE_DEVICES']}) + '\\n')"
    )
    command = f'source "{SCRIPTS}/_common.sh" && run_chunked "{tmp_path}/out" "{sys.executable}" -c "$FAKE"'
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "3,5", "FAKE": fake}
    subprocess.run(["bash", "-c", f"set -euo pipefail; {command}"], check=True, env=env)
    merged = [json.loads(line) for line in (tmp_path / "out" / "merge.jsonl").read_text().splitlines()]
    assert merged == [{"chunk": "0", "of": "2", "gpu": "3"}, {"chunk": "1", "of": "2", "gpu": "5"}]


def test_run_chunked_fails_when_a_chunk_fails(tmp_path: Path) -> None:
    command = (
        f'source "{SCRIPTS}/_common.sh" && run_chunked "{tmp_path}/out" "{sys.executable}" -c "raise SystemExit(3)"'
    )
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail; {command}"], env={**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
    )
    assert result.returncode != 0
    assert not (tmp_path / "out" / "merge.jsonl").exists()


def _pope_data(root: Path) -> None:
    """POPE laid out as eval.zip + COCO: questions with categories, val2014 images, coco_pope_* labels."""
    images = write_images(root / "pope" / "val2014", 4)
    questions, labels = [], {"adversarial": [], "random": []}
    for i, image in enumerate(images):
        category = "adversarial" if i < 2 else "random"
        text = "Is there a dog in the image?\nAnswer the question using a single word or phrase."
        questions.append({"question_id": i, "image": image, "text": text, "category": category})
        labels[category].append({"question_id": i, "image": image, "text": text, "label": ["yes", "no"][i % 2]})
    write_jsonl(root / "pope" / "llava_pope_test.jsonl", questions)
    for category, rows in labels.items():
        write_jsonl(root / "pope" / "coco" / f"coco_pope_{category}.json", rows)


def test_paper_table_runs_a_benchmark_and_prints_the_table(tiny_checkpoint: Path, tmp_path: Path) -> None:
    _pope_data(tmp_path)
    env = {**os.environ, "DATA_ROOT": str(tmp_path), "PYTHON": sys.executable, "PRESETS": "full", "BENCHMARKS": "pope",
           "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}  # fmt: skip
    result = subprocess.run(
        ["bash", str(SCRIPTS / "paper_table.sh"), str(tiny_checkpoint), "--max_new_tokens", "2", "--num-workers", "0"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    answers = tmp_path / "pope" / "answers" / "llava-v1.5-tiny-full.jsonl"
    assert [r["question_id"] for r in map(json.loads, answers.read_text().splitlines())] == [0, 1, 2, 3]
    scores = json.loads((tmp_path / "duet_scores" / "llava-v1.5-tiny.json").read_text())
    assert list(scores) == ["full"] and 0 <= scores["full"]["pope"] <= 100
    table = result.stdout.splitlines()
    assert table[-3].split() == ["method", "tokens", "POPE", "avg", "rel.", "%"]
    assert table[-1].split()[:2] == ["full", "576"] and table[-1].endswith("100.0")
