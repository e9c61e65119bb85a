"""The judge module and the GPT-judged scorers (LLaVA-Bench, MM-Vet) against a fake server on loopback.

Expected numbers are derived by hand from LLaVA's `summarize_gpt_review.py` and MM-Vet's `mm-vet_evaluator.py`.
"""

import json
from pathlib import Path

import pytest

from llava.eval import eval_gpt_review_bench, eval_mmvet, summarize_gpt_review
from llava.eval.judge import (
    JudgeClient,
    JudgeIncomplete,
    JudgeRequest,
    MalformedReply,
    RetryPolicy,
    literal_dict_reply,
    run_judge,
)
from tests.eval.conftest import read_jsonl, read_record, with_provenance, write_jsonl
from tests.eval.fake_judge import fake_judge_server

JUDGE_FLAGS = ["--judge-model", "gpt-test", "--judge-workers", "2", "--judge-backoff", "0"]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def _llavabench(root: Path) -> list[str]:
    questions = [
        {"question_id": 0, "image": "001.jpg", "text": "What is in the image?", "category": "conv"},
        {"question_id": 1, "image": "001.jpg", "text": "Describe the image in detail.", "category": "detail"},
        {"question_id": 2, "image": "002.jpg", "text": "Why is this funny?", "category": "complex"},
    ]
    write_jsonl(root / "questions.jsonl", questions)
    write_jsonl(root / "context.jsonl", [{"id": "a", "image": "001.jpg", "caption": "A cat on a mat."},
                                         {"id": "b", "image": "002.jpg", "caption": ["A dog.", "In a hat."]}])  # fmt: skip
    write_jsonl(root / "answers_gpt4.jsonl", [{"question_id": q["question_id"], "answer_id": f"ref{q['question_id']}",
                                               "text": f"reference {q['question_id']}"} for q in questions])  # fmt: skip
    answers = [{"question_id": q["question_id"], "prompt": q["text"], "text": f"model {q['question_id']}",
                "answer_id": f"m{q['question_id']}"} for q in questions]  # fmt: skip
    write_jsonl(root / "answers.jsonl", with_provenance(answers, preset="llava-1.5:64"))
    return ["--question", str(root / "questions.jsonl"), "--context", str(root / "context.jsonl"),
            "--answer-list", str(root / "answers_gpt4.jsonl"), str(root / "answers.jsonl"),
            "--output", str(root / "reviews" / "llava-v1.5-7b.jsonl")]  # fmt: skip


def _question_of(body: dict) -> str:
    return body["messages"][-1]["content"].split("[Question]\n")[1].split("\n")[0]


def test_llavabench_review_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Q0 (conv) 8 6, Q1 (detail) "7,7", Q2 (complex): an HTTP 500, then a malformed review, then 9 3."""
    calls: dict[str, int] = {}

    def reply(body: dict, _: int) -> str | int:
        question = _question_of(body)
        calls[question] = calls.get(question, 0) + 1
        if question.startswith("What"):
            return "8 6\nAssistant 2 misses the mat."
        if question.startswith("Describe"):
            return "7,7\nBoth fine."
        return {1: 500, 2: "Both answers are good.", 3: "9 3\nAssistant 2 misses the joke."}[calls[question]]

    flags = _llavabench(tmp_path)
    with fake_judge_server(reply) as (api_base, judge):
        eval_gpt_review_bench.main([*flags, *JUDGE_FLAGS, "--api-base", api_base])
    assert calls == {"What is in the image?": 1, "Describe the image in detail.": 1, "Why is this funny?": 3}
    first = judge.requests[0]
    assert first["model"] == "gpt-test" and first["temperature"] == 0.2 and first["max_tokens"] == 1024
    assert first["messages"][0] == {"role": "system", "content": eval_gpt_review_bench.SYSTEM_PROMPT}
    assert judge.headers[0]["Authorization"] == "Bearer sk-test"
    by_question = {_question_of(body): body["messages"][1]["content"] for body in judge.requests}
    assert by_question["Why is this funny?"].startswith(
        "[Context]\nA dog.\nIn a hat.\n\n[Question]\nWhy is this funny?\n\n[Assistant 1]\nreference 2\n\n"
        "[End of Assistant 1]\n\n[Assistant 2]\nmodel 2\n\n[End of Assistant 2]\n\n[System]\nWe would like"
    )
    reviews = {r["question_id"]: r for r in read_jsonl(tmp_path / "reviews" / "llava-v1.5-7b.jsonl")}
    assert reviews[2]["parsed"] == [9.0, 3.0] and reviews[2]["attempts"] == 3
    assert reviews[0]["category"] == "llava_bench_conv" and reviews[0]["answer2_id"] == "m0"
    capsys.readouterr()
    summary = summarize_gpt_review.main(
        ["-f", str(tmp_path / "reviews" / "llava-v1.5-7b.jsonl"), "--answers-file", str(tmp_path / "answers.jsonl"),
         "--run-record", str(tmp_path / "llavabench.json")]
    )  # fmt: skip
    # all: means (8+7+9)/3 = 8.0 and (6+7+3)/3 → 5.333 (3 decimals); 5.333/8.0 x 100 = 66.6625 → 66.7
    assert capsys.readouterr().out == (
        "llava-v1.5-7b\nall 66.7 80.0 53.3\nllava_bench_complex 33.3 90.0 30.0\nllava_bench_conv 75.0 80.0 60.0\n"
        "llava_bench_detail 100.0 70.0 70.0\n=================================\n"
    )
    assert summary["llava-v1.5-7b"]["all"] == (66.7, 80.0, 53.3)
    record = read_record(tmp_path / "llavabench.json")
    assert record["score"] == 66.7 and record["run"] == "llava-v1.5-7b/llava-1.5-64"


def test_failed_items_are_not_counted_and_a_rerun_retries_only_them(tmp_path: Path) -> None:
    flags = _llavabench(tmp_path)
    broken = {"on": True}

    def reply(body: dict, _: int) -> str | bytes:
        question = _question_of(body)
        if question.startswith("Why") and broken["on"]:
            return b'{"choices": []}'  # not a chat completion
        return "8 4\nok" if question.startswith("Why") else "6 6\nok"

    with fake_judge_server(reply) as (api_base, judge):
        with pytest.raises(JudgeIncomplete, match=r"1 item\(s\) are not judged yet \(first: '2': call failed"):
            eval_gpt_review_bench.main([*flags, *JUDGE_FLAGS, "--api-base", api_base, "--judge-attempts", "2"])
        reviews_file = tmp_path / "reviews" / "llava-v1.5-7b.jsonl"
        assert sorted(r["question_id"] for r in read_jsonl(reviews_file)) == [0, 1]  # the failure is not written
        calls_before = len(judge.requests)
        broken["on"] = False
        eval_gpt_review_bench.main([*flags, *JUDGE_FLAGS, "--api-base", api_base])
        assert [_question_of(b) for b in judge.requests[calls_before:]] == ["Why is this funny?"]
    assert sorted(r["question_id"] for r in read_jsonl(reviews_file)) == [0, 1, 2]


def test_unparsable_review_is_never_scored(tmp_path: Path) -> None:
    """LLaVA records (-1, -1) for an unparsable review and averages it in; here it is retried, then reported."""
    flags = _llavabench(tmp_path)
    with fake_judge_server(lambda body, n: "Assistant 1: 8, Assistant 2: 6") as (api_base, judge):
        with pytest.raises(JudgeIncomplete, match="unparsable reply"):
            eval_gpt_review_bench.main([*flags, *JUDGE_FLAGS, "--api-base", api_base, "--judge-attempts", "3"])
        assert len(judge.requests) == 9  # 3 questions x 3 attempts
    assert not (tmp_path / "reviews" / "llava-v1.5-7b.jsonl").read_text()


@pytest.mark.parametrize(
    ("review", "pair"),
    [("8 6\nwhy", [8.0, 6.0]), ("7,7", [7.0, 7.0]), ("9.5 3", [9.5, 3.0]), ("8  6", None), ("8 6 7", None),
     ("7, 7", None),  # ", " becomes two spaces: three pieces
     ("Scores: 8 6", None), ("", None)],
)  # fmt: skip
def test_parse_score_is_llavas(review: str, pair: list[float] | None) -> None:
    if pair is None:
        with pytest.raises(MalformedReply):
            eval_gpt_review_bench.parse_score(review)
    else:
        assert eval_gpt_review_bench.parse_score(review) == pair


def _mmvet(root: Path) -> list[str]:
    data = {
        "v1_0": {"question": "What is x?", "answer": "-1<AND>-5", "capability": ["math", "ocr"], "imagename": "0.png"},
        "v1_1": {"question": "What is written?", "answer": "stop", "capability": ["ocr"], "imagename": "1.png"},
        "v1_2": {"question": "Who is he?", "answer": "Einstein<OR>Albert", "capability": ["rec", "know"],
                 "imagename": "2.png"},
    }  # fmt: skip
    (root / "mm-vet.json").write_text(json.dumps(data))
    (root / "results.json").write_text(json.dumps({"v1_0": "x = -1", "v1_1": "STOP", "v1_2": "Newton"}))
    return ["--mmvet-path", str(root), "--result-file", str(root / "results.json"),
            "--grade-file", str(root / "grades.jsonl")]  # fmt: skip


def test_mmvet_grading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """v1_0 0.5; v1_1 first "Correct" (re-asked with the digit suffix), then 1.0; v1_2 0.0."""

    def reply(body: dict, _: int) -> str:
        content = body["messages"][0]["content"]
        if "What is x?" in content:
            return "0.5"
        if "What is written?" in content:
            return "1.0" if content.endswith(eval_mmvet.RETRY_SUFFIX) else "Correct"
        return "0.0 because"

    with fake_judge_server(reply) as (api_base, judge):
        scores = eval_mmvet.main([*_mmvet(tmp_path), *JUDGE_FLAGS, "--api-base", api_base])
    table = judge.requests[0]["messages"][0]["content"]
    assert table.startswith(eval_mmvet.PROMPT + "\n") and all(b["max_tokens"] == 3 for b in judge.requests)
    retried = [b for b in judge.requests if b["messages"][0]["content"].endswith(eval_mmvet.RETRY_SUFFIX)]
    assert len(retried) == 1 and retried[0]["temperature"] == 0.0
    assert "What is x? | -1 <AND> -5 | x = -1 | \n" in "".join(
        b["messages"][0]["content"] + "\n" for b in judge.requests
    )
    # ocr: (0.5 + 1.0) / 2 → 75.0; math: 0.5 / 1 → 50.0; rec and know: 0.0; total: 1.5 / 3 → 50.0
    assert scores == {"ocr": 75.0, "math": 50.0, "rec": 0.0, "know": 0.0, "total": 50.0, "std": 0.0, "runs": "[50.0]"}
    out = capsys.readouterr().out
    assert "total: 50.0" in out
    # integrations, each item under its own capability set: math_ocr 0.5 → 50.0, ocr 1.0 → 100.0, rec_know 0.0
    assert out.endswith("capability integrations:\n  math_ocr: 50.0\n  ocr: 100.0\n  rec_know: 0.0\n")


def test_mmvet_missing_answer_and_missing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = _mmvet(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"v1_0": "x", "v1_1": "y"}))
    with pytest.raises(ValueError, match="no answer for 1 MM-Vet question"):
        eval_mmvet.main([*flags, *JUDGE_FLAGS])
    (tmp_path / "results.json").write_text(json.dumps({"v1_0": "x", "v1_1": "y", "v1_2": "z", "v1_9": "?"}))
    with pytest.raises(ValueError, match="'v1_9'"):
        eval_mmvet.main([*flags, *JUDGE_FLAGS])
    monkeypatch.delenv("OPENAI_API_KEY")
    (tmp_path / "results.json").write_text(json.dumps({"v1_0": "x", "v1_1": "y", "v1_2": "z"}))
    with pytest.raises(SystemExit, match="OPENAI_API_KEY"):
        eval_mmvet.main([*flags, *JUDGE_FLAGS])


def test_run_judge_api_for_other_benchmarks(tmp_path: Path) -> None:
    """The video helper's use: its own requests and parser (Video-ChatGPT's yes/no + 0-5 dict), results by id."""
    requests = [JudgeRequest(f"v{i}", [{"role": "user", "content": f"q{i}"}], extra={"video": i}) for i in range(3)]

    def parse(request: JudgeRequest, reply: str) -> dict:
        return literal_dict_reply(reply, ("pred", "score"))

    replies = {"q0": "{'pred': 'yes', 'score': 4}", "q1": 'Sure: {"pred": "no", "score": 1}', "q2": "yes, 5"}
    with fake_judge_server(lambda body, n: replies[body["messages"][0]["content"]]) as (api_base, _):
        client = JudgeClient(model="gpt-test", api_base=api_base, api_key=None)
        outcome = run_judge(
            requests, parse, client, tmp_path / "video.jsonl", policy=RetryPolicy(attempts=2, backoff=0)
        )
    assert outcome.results["v0"]["parsed"] == {"pred": "yes", "score": 4} and outcome.results["v0"]["video"] == 0
    assert outcome.results["v1"]["parsed"] == {"pred": "no", "score": 1}
    assert list(outcome.failed) == ["v2"] and "no {...} dict" in outcome.failed["v2"]
    with pytest.raises(JudgeIncomplete):
        outcome.require_complete(["v0", "v1", "v2"])


def test_backoff_waits_double() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, backoff=0.5, max_backoff=1.5, sleep=waits.append)
    for attempt in range(3):
        policy.wait(attempt)
    assert waits == [0.5, 1.0, 1.5]
