"""End to end on a tiny saved checkpoint: the generators write LLaVA's records under a DUET setting.

The DUET setting is a paper preset with its geometry scaled to the tiny model (see conftest): V2V keeps 52 tokens,
T2V halves them after layer 2 and drops all after layer 3, ranking with salient queries. A run without the query
mask would fail inside the model (salient mode requires it), so a finished run also shows the masks were passed.
"""

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from llava.duet_queries import default_finder
from llava.eval import model_vqa_loader, model_vqa_mmbench, model_vqa_science, prompting, run_llava
from llava.eval.mmbench_tsv import ALL_OPTIONS
from tests.eval.conftest import FAST_DECODING, TINY_DUET_ARGS, TINY_SCHEDULE, VQA_QUESTIONS, read_jsonl, write_images

RECORD_KEYS = ["question_id", "prompt", "text", "answer_id", "model_id", "metadata"]
TINY_DUET = {"dominant": 40, "contextual": 12, "cluster_width": 4, "v2v_mode": "duet", "layer_list": [2, 3],
             "ratio_list": [0.5, 0.0], "query": "salient", "position_ids": "compact"}  # fmt: skip
# Per-layer counts 52, 52, 26, 0 (TINY_SCHEDULE): layer-averaged 32.5, N0 52.
TINY_METADATA = {"duet": TINY_DUET, "duet_preset": "llava-1.5:64", "query_path": default_finder().path,
                 "temporal_attention": None, "visual_tokens": {"layer_averaged": 32.5, "llm_input": 52}}  # fmt: skip
FULL_METADATA = {"duet": None, "duet_preset": "full", "query_path": "none", "temporal_attention": None,
                 "visual_tokens": {"layer_averaged": 576.0, "llm_input": 576}}  # fmt: skip


def loader_args(checkpoint: Path, files: tuple[Path, Path], answers: Path, *extra: str) -> list[str]:
    question_file, image_folder = files
    return ["--model-path", str(checkpoint), "--question-file", str(question_file), "--image-folder", str(image_folder),
            "--answers-file", str(answers), "--num-workers", "0", *FAST_DECODING, *extra]  # fmt: skip


@pytest.fixture
def mask_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every (prompt, question) a salient query mask is built from."""
    calls: list[tuple[str, str]] = []
    original = prompting.build_t2v_query_mask

    def spy(tokenizer, prompt: str, question: str) -> list[bool]:
        calls.append((prompt, question))
        return original(tokenizer, prompt, question)

    monkeypatch.setattr(prompting, "build_t2v_query_mask", spy)
    return calls


def test_loader_records_under_duet(
    tiny_checkpoint: Path,
    vqa_files: tuple[Path, Path],
    tmp_path: Path,
    mask_calls: list,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answers = tmp_path / "answers" / "merge.jsonl"
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))
    records = read_jsonl(answers)
    assert [r["question_id"] for r in records] == ["q0", "q1", "q2"]
    for record, question in zip(records, VQA_QUESTIONS, strict=True):
        assert list(record) == RECORD_KEYS
        assert record["prompt"] == question and isinstance(record["text"], str)
        assert record["model_id"] == "llava-v1.5-tiny" and len(record["answer_id"]) == 22
        assert record["metadata"] == TINY_METADATA
    # the salient words come from the question file's text (OCR tokens and suffix included), found in the prompt
    assert [question for _, question in mask_calls] == VQA_QUESTIONS
    assert all(prompt.endswith(f"<image>\n{question} ASSISTANT:") for prompt, question in mask_calls)
    err = capsys.readouterr().err
    assert "[throughput] 3 questions" in err and TINY_SCHEDULE in err


def test_loader_chunks_and_batches(tiny_checkpoint: Path, vqa_files: tuple[Path, Path], tmp_path: Path) -> None:
    """Two chunks answer every question exactly once; batches of 2 (left-padded) answer as batches of 1 do."""
    chunks = [tmp_path / f"2_{i}.jsonl" for i in range(2)]
    for i, path in enumerate(chunks):
        model_vqa_loader.main(
            loader_args(tiny_checkpoint, vqa_files, path, "--num-chunks", "2", "--chunk-idx", str(i), *TINY_DUET_ARGS)
        )
    chunked = [r for path in chunks for r in read_jsonl(path)]
    assert [len(read_jsonl(path)) for path in chunks] == [2, 1]
    assert [r["question_id"] for r in chunked] == ["q0", "q1", "q2"]
    batched = tmp_path / "batched.jsonl"
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, batched, "--batch-size", "2", *TINY_DUET_ARGS))
    assert [r["text"] for r in read_jsonl(batched)] == [r["text"] for r in chunked]


def test_loader_full_preset_builds_no_mask(
    tiny_checkpoint: Path,
    vqa_files: tuple[Path, Path],
    tmp_path: Path,
    mask_calls: list,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answers = tmp_path / "answers.jsonl"
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, "--duet-preset", "full"))
    assert [r["metadata"] for r in read_jsonl(answers)] == [FULL_METADATA] * 3
    assert mask_calls == []
    assert "layers 1-4: 576 (mean 576, N0 576)" in capsys.readouterr().err


def test_science_records(tiny_checkpoint: Path, tmp_path: Path, mask_calls: list) -> None:
    """Image and text-only questions, with the authors' flag spellings; "<image>" marks the image questions."""
    write_images(tmp_path / "images", 2)
    context = "Context: Two magnets.\nOptions: (A) attract (B) repel"
    questions = [
        {"id": "11", "image": "0000.png", "conversations": [{"from": "human", "value": f"<image>\nWill they attract?\n{context}"}, {"from": "gpt", "value": "A"}]},
        {"id": "12", "conversations": [{"from": "human", "value": f"Which is a solid?\n{context}"}, {"from": "gpt", "value": "B"}]},
        {"id": "13", "image": "0001.png", "conversations": [{"from": "human", "value": f"What is shown?\n{context}"}, {"from": "gpt", "value": "A"}]},
    ]  # fmt: skip
    (tmp_path / "sqa.json").write_text(json.dumps(questions))
    answers = tmp_path / "sqa_answers.jsonl"
    model_vqa_science.main(
        ["--model-path", str(tiny_checkpoint), "--question-file", str(tmp_path / "sqa.json"),
         "--image-folder", str(tmp_path / "images"), "--answers-file", str(answers), "--single-pred-prompt",
         *FAST_DECODING, "--dominant_num", "40", "--context_num", "12", "--cluster_width", "4", "--layer_list", "[2,3]",
         "--image_token_ratio_list", "[0.5,0.0]", "--compute_salient_tokens", "True"]
    )  # fmt: skip
    records = read_jsonl(answers)
    assert [r["question_id"] for r in records] == ["11", "12", "13"]
    assert all(list(r) == RECORD_KEYS for r in records)
    suffix = "\n" + prompting.SINGLE_PRED_PROMPT
    assert records[0]["prompt"] == f"<image>\nWill they attract?\n{context}{suffix}"
    assert records[1]["prompt"] == f"Which is a solid?\n{context}{suffix}"
    assert records[2]["prompt"].startswith("<image>\n")
    assert [question for _, question in mask_calls] == [
        f"Will they attract?\n{context}",
        f"Which is a solid?\n{context}",
        f"What is shown?\n{context}",
    ]


def _png_base64(seed: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (30 + seed, 20), (10 * seed, 100, 200, 128)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_mmbench_all_rounds(tiny_checkpoint: Path, tmp_path: Path) -> None:
    header = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage"
    rows = [f"1\tWhat is it?\tnan\tcat\tdog\t\t\tA\tx\t{_png_base64(1)}",
            f"2\tWhich colour?\tA sky.\tblue\tred\tgreen\t\tA\ty\t{_png_base64(2)}"]  # fmt: skip
    (tmp_path / "mmbench.tsv").write_text(header + "\n" + "\n".join(rows) + "\n")
    answers = tmp_path / "mmbench.jsonl"
    model_vqa_mmbench.main(
        ["--model-path", str(tiny_checkpoint), "--question-file", str(tmp_path / "mmbench.tsv"),
         "--answers-file", str(answers), "--all-rounds", "--single-pred-prompt", *FAST_DECODING, *TINY_DUET_ARGS]
    )  # fmt: skip
    records = read_jsonl(answers)
    assert [(r["question_id"], r["round_id"]) for r in records] == [(1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
    assert [r["options"] for r in records[2:]] == [
        ["blue", "red", "green"],
        ["red", "green", "blue"],
        ["green", "blue", "red"],
    ]
    assert records[3]["option_char"] == ["B", "C", "A"]
    assert records[3]["prompt"] == "A sky.\nWhich colour?\nA. red\nB. green\nC. blue"
    assert set(ALL_OPTIONS) >= set(records[0]["option_char"])


def test_run_llava_prints_the_answer(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "images" / write_images(tmp_path / "images", 1)[0]
    answer = run_llava.main(
        ["--model-path", str(tiny_checkpoint), "--image-file", str(image), "--query", "What is shown?",
         *FAST_DECODING, *TINY_DUET_ARGS]
    )  # fmt: skip
    out = capsys.readouterr()
    assert out.out.endswith(answer + "\n")
    assert TINY_SCHEDULE in out.err


def test_run_llava_placeholder_count_must_match() -> None:
    with pytest.raises(ValueError, match="2 image"):
        run_llava.user_message("Compare <image-placeholder> with this.", 2, "<image>")
    assert run_llava.user_message("A <image-placeholder> B <image-placeholder>", 2, "<image>") == "A <image> B <image>"
