"""The zero-shot video QA files in Video-ChatGPT's layout, which Video-LLaVA's scripts read.

    eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/{test_q.json, test_a.json, videos/}
    eval/GPT_Zero_Shot_QA/MSRVTT_Zero_Shot_QA/{test_q.json, test_a.json, videos/all/}
    eval/GPT_Zero_Shot_QA/TGIF_Zero_Shot_QA/{test_q.json, test_a.json, mp4/}
    eval/GPT_Zero_Shot_QA/Activitynet_Zero_Shot_QA/{test_q.json, test_a.json, all_test/}   (files named v_<name>.*)

`test_q.json` is a JSON list of `{"video_name", "question", "question_id"}`; `test_a.json` a list of `{"answer",
"question_id", "type"?}`. Video-LLaVA pairs them by position (`gt_answers[index]`), which silently pairs a question
with another question's answer when the chunked run or an edited file shifts them; here answers are matched by
`question_id` when the answer file has ids (the released ones do), by position otherwise, and a question without
an answer is an error naming the file and the id. Videos are looked up as `<prefix><video_name><ext>` for the
original's extensions, in its order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llava.eval.answer_records import AnswersFileError

VIDEO_FORMATS = (".mp4", ".avi", ".mov", ".mkv")


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark's files live under its folder, and the prefix of its video files."""

    name: str
    folder: str
    video_subdir: str
    video_prefix: str = ""


BENCHMARKS = {
    "msvd": Benchmark("msvd", "MSVD_Zero_Shot_QA", "videos"),
    "msrvtt": Benchmark("msrvtt", "MSRVTT_Zero_Shot_QA", "videos/all"),
    "tgif": Benchmark("tgif", "TGIF_Zero_Shot_QA", "mp4"),
    "activitynet": Benchmark("activitynet", "Activitynet_Zero_Shot_QA", "all_test", video_prefix="v_"),
}
PAPER_AVERAGE = ("tgif", "msvd", "msrvtt")
"""The benchmarks DUET's video number (100.8 % / 97.6 %) averages, by judge accuracy (paper.md §3.3)."""


@dataclass(frozen=True)
class QAItem:
    """One question with its ground-truth answer and the video it is about."""

    question_id: str
    video_name: str
    question: str
    answer: str


def _read_list(path: Path, what: str) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} ({what}) does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AnswersFileError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise AnswersFileError(f"{path}: expected a JSON list of objects ({what}), got {type(data).__name__}")
    return data


def read_qa_items(question_file: str | Path, answer_file: str | Path) -> list[QAItem]:
    """Questions paired with their answers (by id when the answer file has ids); see the module docstring."""
    question_file, answer_file = Path(question_file).expanduser(), Path(answer_file).expanduser()
    questions = _read_list(question_file, "questions")
    answers = _read_list(answer_file, "answers")
    for number, entry in enumerate(questions, start=1):
        missing = [key for key in ("video_name", "question", "question_id") if key not in entry]
        if missing:
            raise AnswersFileError(f"{question_file}: question {number} lacks {missing}")
    ids = [str(entry["question_id"]) for entry in questions]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise AnswersFileError(f"{question_file}: question_id {duplicate!r} appears more than once")
    by_id = all("question_id" in entry for entry in answers)
    if by_id:
        lookup = {str(entry["question_id"]): entry for entry in answers}
        missing_ids = [i for i in ids if i not in lookup]
        if missing_ids:
            raise AnswersFileError(
                f"{answer_file} has no answer for {len(missing_ids)} question(s) of {question_file} (first: "
                f"{missing_ids[0]!r}). Fix: use the answer file that belongs to this question file."
            )
        paired = [lookup[i] for i in ids]
    else:
        if len(answers) != len(questions):
            raise AnswersFileError(
                f"{answer_file} has {len(answers)} answers without question ids for {len(questions)} questions in "
                f"{question_file}; positional pairing needs one answer per question."
            )
        paired = answers
    items = []
    for question, answer, identity in zip(questions, paired, ids, strict=True):
        if not isinstance(answer.get("answer"), str) or not answer["answer"].strip():
            raise AnswersFileError(f"{answer_file}: the answer to question {identity!r} is missing or empty")
        items.append(QAItem(identity, str(question["video_name"]), str(question["question"]), answer["answer"]))
    return items


def find_video(video_dir: str | Path, video_name: str, prefix: str = "") -> Path | None:
    """The first `<prefix><video_name><ext>` that exists, trying the original's extensions in order."""
    for extension in VIDEO_FORMATS:
        candidate = Path(video_dir).expanduser() / f"{prefix}{video_name}{extension}"
        if candidate.is_file():
            return candidate
    return None
