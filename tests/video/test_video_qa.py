"""Zero-shot video QA end to end: question files, generation on both layouts (resumable, batched, robust to bad
videos), the Video-ChatGPT judge against a fake endpoint on loopback, aggregation, and the summarizer's rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llava.eval import summarize
from llava.eval.answer_records import AnswersFileError
from llava.eval.judge import JudgeRequest, MalformedReply
from llava.eval.video import eval_video_qa, run_inference_video_qa, run_inference_video_qa_act
from llava.eval.video.qa_files import PAPER_AVERAGE, read_qa_items
from llava.eval.video.video_judge import SYSTEM_PROMPT, aggregate, parse_video_qa_reply, user_prompt
from llava.testing.tiny_video_llava import color_frames, write_video
from tests.eval.fake_judge import fake_judge_server
from tests.video.conftest import use_fake_hub

JUDGE_FLAGS = ["--judge-model", "gpt-test", "--judge-workers", "2", "--judge-backoff", "0", "--judge-attempts", "3"]


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Video-ChatGPT-layout benchmark: 3 good videos, a 4-frame one and a missing one."""
    root = tmp_path_factory.mktemp("msvd")
    for i in range(3):
        write_video(root / "videos" / f"clip{i}.mp4", color_frames(10 + 3 * i, seed=i))
    write_video(root / "videos" / "short.mp4", color_frames(4))
    names = ["clip0", "clip1", "clip2", "short", "gone"]
    write_json(root / "test_q.json", [{"video_name": n, "question": f"what happens in {n}?", "question_id": f"v_{n}_0"}
                                      for n in names])  # fmt: skip
    write_json(root / "test_a.json", [{"answer": f"answer {n}", "type": 0, "question_id": f"v_{n}_0"}
                                      for n in reversed(names)])  # fmt: skip
    return root


def inference_flags(model: Path, bench: Path, out: Path, name: str, *extra: str) -> list[str]:
    return ["--model_path", str(model), "--video_dir", str(bench / "videos"),
            "--gt_file_question", str(bench / "test_q.json"), "--gt_file_answers", str(bench / "test_a.json"),
            "--output_dir", str(out), "--output_name", name, "--num_workers", "0", "--max_new_tokens", "3",
            "--device", "cpu", *extra]  # fmt: skip


# ------------------------------------------------------------------------------------------------ question files
def test_answers_pair_by_question_id_not_position(benchmark: Path) -> None:
    items = read_qa_items(benchmark / "test_q.json", benchmark / "test_a.json")  # answers are stored reversed
    assert [(i.question_id, i.video_name, i.answer) for i in items[:2]] == [
        ("v_clip0_0", "clip0", "answer clip0"),
        ("v_clip1_0", "clip1", "answer clip1"),
    ]


def test_positional_pairing_without_ids(tmp_path: Path) -> None:
    q = write_json(tmp_path / "q.json", [{"video_name": "a", "question": "q?", "question_id": 7}])
    a = write_json(tmp_path / "a.json", [{"answer": "yes"}])
    assert read_qa_items(q, a)[0].answer == "yes"


def test_missing_answer_is_an_error_naming_file_and_question(benchmark: Path, tmp_path: Path) -> None:
    answers = json.loads((benchmark / "test_a.json").read_text())
    broken = write_json(tmp_path / "test_a.json", [a for a in answers if a["question_id"] != "v_clip1_0"])
    with pytest.raises(AnswersFileError, match=r"test_a.json has no answer for 1 question.*'v_clip1_0'"):
        read_qa_items(benchmark / "test_q.json", broken)
    empty = write_json(tmp_path / "empty_a.json", [{**a, "answer": ""} for a in answers])
    with pytest.raises(AnswersFileError, match="answer to question 'v_clip0_0' is missing or empty"):
        read_qa_items(benchmark / "test_q.json", empty)


def test_missing_answer_stops_inference_before_loading(benchmark: Path, tmp_path: Path, saved) -> None:
    answers = json.loads((benchmark / "test_a.json").read_text())[1:]
    write_json(tmp_path / "test_q.json", json.loads((benchmark / "test_q.json").read_text()))
    write_json(tmp_path / "test_a.json", answers)
    (tmp_path / "videos").symlink_to(benchmark / "videos")
    with pytest.raises(SystemExit):
        run_inference_video_qa.main(inference_flags(saved.original, tmp_path, tmp_path / "out", "x"))
    assert not (tmp_path / "out" / "x.json").exists()


# --------------------------------------------------------------------------------------------------- generation
@pytest.fixture
def hub(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_hub(monkeypatch, saved.hub_cache)


def test_original_layout_answers_resumes_and_skips_bad_videos(
    saved, benchmark: Path, tmp_path: Path, hub, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    flags = inference_flags(saved.original, benchmark, out, "1_0", "--batch-size", "2")
    skipped = run_inference_video_qa.main(flags)
    assert sorted(s["id"] for s in skipped) == ["v_gone_0", "v_short_0"]
    assert "fewer than the 8" in next(s["reason"] for s in skipped if s["id"] == "v_short_0")
    records = read_lines(out / "1_0.json")
    assert [r["id"] for r in records] == ["v_clip0_0", "v_clip1_0", "v_clip2_0"]
    assert all(set(r) >= {"id", "question", "answer", "pred"} and r["pred"] for r in records)
    assert records[1]["answer"] == "answer clip1"
    metadata = records[0]["metadata"]
    assert metadata["temporal_attention"] is True and metadata["duet"] is None
    assert metadata["visual_tokens"]["llm_input"] == 2056 and metadata["visual_tokens"]["paper_llm_input"] == 2048
    assert json.loads((out / "1_0.skipped.json").read_text())[0]["video_name"] in ("short", "gone")

    # Resume: drop the last answer and cut the file mid-line; the rerun answers exactly what is missing.
    lines = (out / "1_0.json").read_text().splitlines()
    (out / "1_0.json").write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])
    run_inference_video_qa.main(inference_flags(saved.original, benchmark, out, "1_0"))
    resumed = read_lines(out / "1_0.json")
    assert [r["id"] for r in resumed] == ["v_clip0_0", "v_clip1_0", "v_clip2_0"]
    assert resumed[:2] == records[:2]  # kept, not regenerated
    assert resumed[2]["pred"] == records[2]["pred"]  # batch of 2 == alone

    # A different setting must not be appended to this file.
    with pytest.raises(SystemExit):
        run_inference_video_qa.main(
            inference_flags(saved.original, benchmark, out, "1_0", "--temporal-attention", "off")
        )
    assert "'temporal_attention': False" in capsys.readouterr().err and read_lines(out / "1_0.json") == resumed


def test_chunks_cover_the_questions_once(saved, benchmark: Path, tmp_path: Path, hub) -> None:
    ids = []
    for chunk in range(2):
        flags = inference_flags(saved.original, benchmark, tmp_path, f"2_{chunk}", "--num_chunks", "2",
                                "--chunk_idx", str(chunk), "--duet-preset", "video-llava:136",
                                "--layer-list", "[2,3]")  # fmt: skip
        run_inference_video_qa.main(flags)
        ids += [r["id"] for r in read_lines(tmp_path / f"2_{chunk}.json")]
    assert ids == ["v_clip0_0", "v_clip1_0", "v_clip2_0"]
    metadata = read_lines(tmp_path / "2_0.json")[0]["metadata"]
    assert metadata["duet_preset"] == "video-llava:136" and metadata["visual_tokens"]["llm_input"] == 216


def test_hf_layout_answers_with_temporal_attention_off(saved, benchmark: Path, tmp_path: Path, hub) -> None:
    run_inference_video_qa.main(inference_flags(saved.hf, benchmark, tmp_path, "hf", "--batch-size", "3"))
    records = read_lines(tmp_path / "hf.json")
    assert [r["id"] for r in records] == ["v_clip0_0", "v_clip1_0", "v_clip2_0"]
    assert records[0]["metadata"]["temporal_attention"] is False and records[0]["metadata"]["layout"] == "hf"
    duet_flags = ("--batch-size", "2", "--duet-preset", "video-llava:136", "--layer-list", "[2,3]")
    run_inference_video_qa.main(inference_flags(saved.hf, benchmark, tmp_path, "hf-duet", *duet_flags))
    compressed = read_lines(tmp_path / "hf-duet.json")
    assert len(compressed) == 3 and compressed[0]["metadata"]["duet_preset"] == "video-llava:136"
    assert compressed[0]["metadata"]["visual_tokens"]["llm_input"] == 216


def test_activitynet_script_prefixes_video_names(saved, tmp_path: Path, hub) -> None:
    write_video(tmp_path / "all_test" / "v_abc.mp4", color_frames(9))
    write_json(tmp_path / "test_q.json", [{"video_name": "abc", "question": "what?", "question_id": "abc_1"}])
    write_json(tmp_path / "test_a.json", [{"answer": "a", "type": 1, "question_id": "abc_1"}])
    flags = inference_flags(saved.original, tmp_path, tmp_path / "out", "act")
    flags[flags.index("--video_dir") + 1] = str(tmp_path / "all_test")
    assert run_inference_video_qa_act.main(flags) == []
    assert read_lines(tmp_path / "out" / "act.json")[0]["id"] == "abc_1"


# -------------------------------------------------------------------------------------------------------- judge
def request() -> JudgeRequest:
    return JudgeRequest(item_id="x", messages=[])


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("{'pred': 'yes', 'score': 4}", {"pred": "yes", "score": 4}),
        ("{'pred': 'no', 'score': 1}", {"pred": "no", "score": 1}),
        ('Sure: {"pred": "Yes", "score": 4.8}', {"pred": "yes", "score": 4}),  # the original truncates with int()
        ("{'pred': 'no', 'score': '2'}", {"pred": "no", "score": 2}),
    ],
)
def test_reply_rule(reply: str, expected: dict) -> None:
    assert parse_video_qa_reply(request(), reply) == expected


@pytest.mark.parametrize(
    "reply",
    ["The answer is correct.", "{'pred': 'maybe', 'score': 3}", "{'pred': 'yes', 'score': 7}",
     "{'pred': 'yes'}", "{'pred': 'yes', 'score': 'high'}", "{'pred': 'yes', 'score': True}"],
)  # fmt: skip
def test_malformed_replies_are_refused(reply: str) -> None:
    with pytest.raises(MalformedReply):
        parse_video_qa_reply(request(), reply)


def test_aggregation_is_the_originals() -> None:
    scores = aggregate([{"pred": "yes", "score": 5}, {"pred": "yes", "score": 4}, {"pred": "no", "score": 0}])
    assert (scores.yes, scores.no, scores.accuracy, scores.mean_score) == (2, 1, 2 / 3, 3.0)


def predictions(path: Path, preset: str, correct: int, total: int = 4) -> Path:
    """A prediction file as the generator writes it; the first `correct` predictions equal the answer."""
    tokens = {"full": {"layer_averaged": 2056.0, "llm_input": 2056},
              "video-llava:960": {"layer_averaged": 960.0, "llm_input": 1536}}[preset]  # fmt: skip
    metadata = {"duet": None, "duet_preset": preset, "query_path": "none", "temporal_attention": True,
                "visual_tokens": tokens}  # fmt: skip
    rows = [{"id": f"q{i}", "question": f"question {i}?", "answer": f"answer {i}",
             "pred": f"answer {i}" if i < correct else "something else", "model_id": "Video-LLaVA-7B",
             "metadata": metadata} for i in range(total)]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def correct_judge(body: dict, _: int) -> str:
    """Yes (score 4) when the prediction repeats the answer, else no (score 1)."""
    content = body["messages"][1]["content"]
    answer = content.split("Correct Answer: ")[1].split("\n")[0]
    prediction = content.split("Predicted Answer: ")[1].split("\n")[0]
    return "{'pred': 'yes', 'score': 4}" if answer == prediction else "{'pred': 'no', 'score': 1}"


def test_judge_pipeline_with_a_failing_call_and_a_malformed_reply(tmp_path: Path, monkeypatch, capsys) -> None:
    """q1: HTTP 500 then fine; q2: malformed until the endpoint is fixed, so it is reported, not counted, and the
    rerun judges only q2. Accuracy = yes / (yes + no), score = mean int score, as the original."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    preds = predictions(tmp_path / "merge.jsonl", "full", correct=3)
    calls: dict[str, int] = {}
    fixed = {"q2": False}

    def reply(body: dict, _: int) -> str | int:
        question = body["messages"][1]["content"].split("Question: ")[1].split("\n")[0]
        calls[question] = calls.get(question, 0) + 1
        if question == "question 1?" and calls[question] == 1:
            return 500
        if question == "question 2?" and not fixed["q2"]:
            return "Yes, it matches well."
        return correct_judge(body, _)

    flags = ["--pred_path", str(preds), "--output_dir", str(tmp_path / "gpt"), "--output_json",
             str(tmp_path / "results.json"), "--benchmark", "msvd", "--run-record", str(tmp_path / "run.json"),
             *JUDGE_FLAGS]  # fmt: skip
    with fake_judge_server(reply) as (api_base, judge):
        with pytest.raises(SystemExit) as stopped:
            eval_video_qa.main([*flags, "--api_base", api_base])
        assert stopped.value.code == 1
        assert "1 item(s) are not judged yet (first: 'q2'" in capsys.readouterr().err
        assert not (tmp_path / "run.json").exists() and not (tmp_path / "results.json").exists()
        assert calls == {"question 0?": 1, "question 1?": 2, "question 2?": 3, "question 3?": 1}
        first = judge.requests[0]
        assert first["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert first["model"] == "gpt-test" and judge.headers[0]["Authorization"] == "Bearer sk-test"

        fixed["q2"] = True
        scores = eval_video_qa.main([*flags, "--api-base", api_base])
    assert calls["question 2?"] == 4 and calls["question 0?"] == 1  # only the missing item was asked again
    assert (scores.yes, scores.no, scores.accuracy, scores.mean_score) == (3, 1, 0.75, 3.25)
    out = capsys.readouterr().out
    assert "Accuracy: 0.75" in out and "Average score: 3.25" in out
    combined = json.loads((tmp_path / "results.json").read_text())
    assert combined["q3"] == [
        {"pred": "no", "score": 1},
        {"q": "question 3?", "a": "answer 3", "pred": "something else"},
    ]
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["benchmark"] == "msvd" and record["score"] == 75.0 and record["metrics"]["score"] == 3.25
    assert record["run"] == "Video-LLaVA-7B/full" and record["setting"]["temporal_attention"] is True
    assert record["tokens"] == {"layer_averaged": 2056.0, "llm_input": 2056}


def test_judge_prompt_is_video_chatgpts() -> None:
    text = user_prompt("what is it?", "a cat", "a kitten")
    assert text.startswith("Please evaluate the following video-based question-answer pair:\n\nQuestion: what is it?\n"
                           "Correct Answer: a cat\nPredicted Answer: a kitten\n\n")  # fmt: skip
    assert "value of 'pred' is  a string of 'yes' or 'no'" in text
    assert text.endswith("For example, your response should look like this: {'pred': 'yes', 'score': 4.8}.")


def test_key_on_the_command_line_is_refused(tmp_path: Path) -> None:
    preds = predictions(tmp_path / "merge.jsonl", "full", correct=1)
    with pytest.raises(SystemExit):
        eval_video_qa.main(["--pred_path", str(preds), "--output_dir", str(tmp_path), "--api_key", "sk-leak"])


def test_video_rows_join_the_summary_with_the_papers_average(tmp_path: Path, monkeypatch) -> None:
    """Three benchmarks x (full, 960): the summarizer's relative accuracy averaged over TGIF, MSVD and MSRVTT."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    correct = {("full", "tgif"): 2, ("full", "msvd"): 4, ("full", "msrvtt"): 2,
               ("video-llava:960", "tgif"): 2, ("video-llava:960", "msvd"): 3, ("video-llava:960", "msrvtt"): 3}  # fmt: skip
    with fake_judge_server(correct_judge) as (api_base, _):
        for (preset, bench), right in correct.items():
            folder = tmp_path / bench / preset.replace(":", "-")
            preds = predictions(folder / "merge.jsonl", preset, correct=right)
            eval_video_qa.main(["--pred_path", str(preds), "--output_dir", str(folder / "gpt"), "--benchmark", bench,
                                "--run-record", str(tmp_path / "runs" / f"{bench}-{preset}.json"),
                                "--api-base", api_base, *JUDGE_FLAGS])  # fmt: skip
    rows = summarize.main([str(tmp_path / "runs"), "--average-set", *PAPER_AVERAGE])
    by_run = {row.run: row for row in rows}
    duet = by_run["Video-LLaVA-7B/video-llava-960"]
    assert duet.baseline == "Video-LLaVA-7B/full"
    assert duet.scores == {"tgif": 50.0, "msvd": 75.0, "msrvtt": 75.0}
    assert duet.average(PAPER_AVERAGE) == pytest.approx((100.0 + 75.0 + 150.0) / 3)
    assert duet.tokens["layer_averaged"] == 960.0


def test_shell_scripts_answer_and_judge_a_benchmark(saved, benchmark: Path, tmp_path: Path) -> None:
    """`run_qa_msvd.sh` then `eval_qa_msvd.sh`, as users run them, on the tiny checkpoint and a fake judge."""
    scripts = Path(__file__).resolve().parents[2] / "scripts" / "v1_5" / "eval"
    root = tmp_path / "GPT_Zero_Shot_QA"
    (root / "MSVD_Zero_Shot_QA").mkdir(parents=True)
    for name in ("videos", "test_q.json", "test_a.json"):
        (root / "MSVD_Zero_Shot_QA" / name).symlink_to(benchmark / name)
    env = {**os.environ, "GPT_ZERO_SHOT_QA": str(root), "HF_HUB_CACHE": str(saved.hub_cache), "HF_HUB_OFFLINE": "1",
           "PYTHON": sys.executable, "NUM_WORKERS": "0", "BATCH_SIZE": "2", "CUDA_VISIBLE_DEVICES": "",
           "OPENAI_API_KEY": "sk-test", "CKPT_NAME": "tiny-960"}  # fmt: skip
    model = str(saved.original)
    generate = ["--max_new_tokens", "2", "--device", "cpu", "--layer-list", "[2,3]"]
    subprocess.run(["bash", str(scripts / "run_qa_msvd.sh"), model, "video-llava:960", *generate], check=True, env=env)
    merged = read_lines(root / "MSVD_Zero_Shot_QA" / "tiny-960" / "merge.jsonl")
    assert [r["id"] for r in merged] == ["v_clip0_0", "v_clip1_0", "v_clip2_0"]
    with fake_judge_server(correct_judge) as (api_base, judge):
        result = subprocess.run(["bash", str(scripts / "eval_qa_msvd.sh"), model, "video-llava:960"],
                                env={**env, "JUDGE_ARGS": f"--judge-model gpt-test --api-base {api_base}"},
                                capture_output=True, text=True, check=True)  # fmt: skip
    assert "Accuracy: 0.0" in result.stdout and len(judge.requests) == 3
    record = json.loads((root / "runs" / "tiny-960" / "msvd.json").read_text())
    assert record["preset"] == "video-llava:960" and record["tokens"]["llm_input"] == 1536
