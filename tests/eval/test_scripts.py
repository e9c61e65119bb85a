"""The shell drivers: syntax, the multi-GPU chunk/merge helper, and one full benchmark through `paper_table.sh`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llava.testing.tiny_llava import build_tiny_llava, save_released_layout
from tests.eval.benchmark_tree import build_eval_tree
from tests.eval.conftest import read_jsonl
from tests.eval.fake_judge import fake_judge_server

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "v1_5" / "eval"
LLAVA_15_SCRIPTS = ("gqa", "llavabench", "mmbench", "mmbench_cn", "mme", "mmvet", "pope", "qbench", "qbench_zh",
                    "seed", "sqa", "textvqa", "vizwiz", "vqav2")  # fmt: skip


@pytest.mark.parametrize("script", sorted([*SCRIPTS.glob("*.sh"), REPO / "scripts" / "eval" / "all.sh"]))
def test_script_syntax(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_every_llava_15_eval_script_is_here() -> None:
    assert {p.stem for p in SCRIPTS.glob("*.sh")} >= set(LLAVA_15_SCRIPTS)


def test_qbench_takes_the_split_first_as_in_llava(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(SCRIPTS / "qbench.sh"), "val"], capture_output=True, text=True)
    assert result.returncode == 1 and "Unknown split, please choose between 'dev' and 'test'." in result.stdout


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


def _env(data_root: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATA_ROOT": str(data_root), "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "",
            "OMP_NUM_THREADS": "1", **extra}  # fmt: skip


def _judge_reply(body: dict, _: int) -> str:
    """LLaVA-Bench reviews get a score pair, MM-Vet gradings a correctness score."""
    content = body["messages"][-1]["content"]
    return "8 6\nAssistant 2 is vaguer." if "[System]" in content else "0.5"


@pytest.mark.slow
def test_all_benchmarks_run_through_all_sh(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Every LLaVA-1.5 eval script, on a tiny fixture of its format, with the judge on loopback."""
    root = build_eval_tree(tmp_path / "eval")
    with fake_judge_server(_judge_reply) as (api_base, judge):
        env = _env(root, OPENAI_API_KEY="sk-test", JUDGE_ARGS=f"--api-base {api_base} --judge-backoff 0")
        result = subprocess.run(
            ["bash", str(REPO / "scripts" / "eval" / "all.sh"), str(tiny_checkpoint), "full", "--max_new_tokens", "2"],
            cwd=REPO, env=env, capture_output=True, text=True,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert "[all.sh] skipped: none" in result.stdout and "[all.sh] failed: none" in result.stdout
    run = "llava-v1.5-tiny/full"
    records = {p.stem: json.loads(p.read_text()) for p in (root / "runs" / run).glob("*.json")}
    scored = {"gqa", "sqa", "textvqa", "pope", "mme", "mmbench", "mmbench_cn", "seed", "llavabench", "mmvet"}
    assert set(records) == scored
    assert all(r["run"] == run and r["preset"] == "full" and r["tokens"] == {"layer_averaged": 576.0, "llm_input": 576}
               for r in records.values())  # fmt: skip
    # the judge's fixed replies give hand-computable scores: LLaVA-Bench 6/8 → 75.0; MM-Vet 0.5 everywhere → 50.0
    assert records["llavabench"]["score"] == 75.0 and records["mmvet"]["score"] == 50.0
    assert len(judge.requests) == 4
    # submission files for the server-scored splits, answers per run folder
    assert json.loads((root / "vqav2/answers_upload/llava_vqav2_mscoco_test-dev2015" / f"{run}.json").read_text())[2] == {
        "question_id": 13, "answer": ""}  # fmt: skip
    assert len(json.loads((root / "vizwiz/answers_upload" / f"{run}.json").read_text())) == 2
    assert (root / "mmbench/answers_upload/mmbench_dev_20230712" / run / "answers.xlsx").is_file()
    assert len((root / "seed_bench/answers_upload" / f"{run}.jsonl").read_text().splitlines()) == 2
    assert len(read_jsonl(root / "qbench/answers" / run / "llvisionqa_dev_answers.jsonl")) == 2
    assert json.loads((root / "mm-vet/results" / f"{run}.json").read_text()).keys() == {"v1_0", "v1_1"}
    assert "| llava-v1.5-tiny/full | baseline | 576 | 576 |" in result.stdout  # the summary table


def test_all_sh_says_what_it_skipped_and_why(tiny_checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "pope").mkdir()
    (tmp_path / "pope" / "llava_pope_test.jsonl").write_text("")
    result = subprocess.run(["bash", str(REPO / "scripts" / "eval" / "all.sh"), str(tiny_checkpoint), "full"],
                            cwd=REPO, env=_env(tmp_path), capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"[all.sh] skip pope: {tmp_path}/pope/val2014 is missing" in result.stdout
    assert f"[all.sh] skip vqav2: {tmp_path}/vqav2/llava_vqav2_mscoco_test-dev2015.jsonl is missing" in result.stdout
    assert "[all.sh] ran: none" in result.stdout
    unknown = subprocess.run(["bash", str(REPO / "scripts" / "eval" / "all.sh"), "x", "full"], cwd=REPO,
                             env=_env(tmp_path, BENCHMARKS="pope nope"), capture_output=True, text=True)  # fmt: skip
    assert unknown.returncode == 2 and "unknown benchmark 'nope'" in unknown.stderr


@pytest.fixture(scope="module")
def tiny_checkpoint_32_layers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 decoder layers and 576 patches: the paper presets run unmodified."""
    tiny = build_tiny_llava(seed=3, llama_overrides={"num_hidden_layers": 32})
    return save_released_layout(tiny, tmp_path_factory.mktemp("ckpt32"), name="llava-v1.5-tiny32")


def test_paper_table_runs_presets_and_writes_the_table(tiny_checkpoint_32_layers: Path, tmp_path: Path) -> None:
    root = build_eval_tree(tmp_path / "eval")
    env = _env(root, PRESETS="full llava-1.5:64", BENCHMARKS="pope sqa")
    result = subprocess.run(
        ["bash", str(SCRIPTS / "paper_table.sh"), str(tiny_checkpoint_32_layers), "--max_new_tokens", "2"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # presets never overwrite each other
    for preset in ("full", "llava-1.5-64"):
        answers = read_jsonl(root / "pope" / "answers" / "llava-v1.5-tiny32" / preset / "answers.jsonl")
        assert [r["question_id"] for r in answers] == [0, 1, 2, 3]
    duet = read_jsonl(root / "pope" / "answers" / "llava-v1.5-tiny32" / "llava-1.5-64" / "answers.jsonl")[0]
    assert duet["metadata"]["visual_tokens"] == {"layer_averaged": 63.75, "llm_input": 102}
    summary = root / "summary" / "llava-v1.5-tiny32"
    table = (summary / "table.md").read_text().splitlines()
    assert table[2].startswith("| llava-v1.5-tiny32/full | baseline | 576 | 576 |")
    assert table[3].startswith("| llava-v1.5-tiny32/llava-1.5-64 | DUET | 63.75 | 102 |")
    assert (summary / "table.csv").is_file() and (summary / "retained.png").is_file()
