"""MM-Vet grading with an LLM judge, as MM-Vet's official `mm-vet_evaluator.py` grades (GPT-4 in the paper).

    python -m llava.eval.eval_mmvet --mmvet-path playground/data/eval/mm-vet \\
        --result-file playground/data/eval/mm-vet/results/llava-v1.5-7b.json \\
        --grade-file playground/data/eval/mm-vet/results/llava-v1.5-7b_grades.jsonl [--judge-model gpt-4-0613]

`--result-file` is `scripts/convert_mmvet_for_eval.py`'s upload file (`{"v1_0": answer, ...}`); `--mmvet-path`
holds `mm-vet.json` (`{id: {question, answer, capability, ...}}`). Per question and run the judge completes the
official few-shot table (question | ground truth with spaced <AND>/<OR> | prediction | ...) with a correctness
score in 0.0-1.0 (max_tokens 3, temperature 0). A reply whose first word is not a number in [0, 1] is re-asked with
"Predict the correctness of the answer (digit): " appended, temperature raised by 0.5 each time, as the official
script does — but after the last attempt the item is reported and left out (the official script counted it as 0.0).

Scores, as the official script computes them: per capability, sum of the item scores / items with that capability
x 100, per run; the table shows the mean over `--num-runs` runs rounded to `--decimal-places` (1), "total" over all
items, and the standard deviation of the totals over runs. A second table gives each capability integration (the
exact set of capabilities an item needs), as the official script's second table does.
"""

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from llava.eval.answer_records import check_known, read_jsonl
from llava.eval.judge import (
    JudgeClient,
    JudgeOutcome,
    JudgeRequest,
    MalformedReply,
    add_judge_args,
    policy_from_args,
    run_judge,
    with_retry_request,
)
from llava.eval.run_record import add_run_record_args, record_from_answers

DEFAULT_JUDGE = "gpt-4-0613"
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
TEMPERATURE_STEP = 0.5
PROMPT = (
    "Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.\n"
    "\n"
    "Question | Ground truth | Prediction | Correctness\n"
    "--- | --- | --- | ---\n"
    "What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0\n"
    "What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0\n"
    "Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4\n"
    "Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0\n"
)


def grading_question(item: Mapping[str, str], prediction: str) -> str:
    answer = item["answer"].replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return PROMPT + "\n" + " | ".join([item["question"], answer, prediction, ""])


def parse_grade(request: JudgeRequest, reply: str) -> float:
    """The official rule: the reply's first space-separated word, a number in [0, 1]."""
    word = reply.split(" ")[0].strip()
    try:
        score = float(word)
    except ValueError:
        raise MalformedReply(f"{word!r} is not a number") from None
    if not 0.0 <= score <= 1.0:
        raise MalformedReply(f"{score} is outside [0, 1]")
    return score


def retry_grade(request: JudgeRequest, attempt: int) -> JudgeRequest:
    """The official re-ask: the stricter suffix, first at temperature 0, then +0.5 per further try."""
    content = request.messages[0]["content"] + RETRY_SUFFIX
    return with_retry_request(
        request, messages=[{"role": "user", "content": content}], temperature=TEMPERATURE_STEP * (attempt - 1)
    )


def item_id(question_id: str, run: int) -> str:
    return f"{question_id}#run{run}"


def build_requests(data: Mapping[str, dict], predictions: Mapping[str, str], num_runs: int) -> list[JudgeRequest]:
    missing = [qid for qid in data if qid not in predictions]
    if missing:
        raise ValueError(f"the result file has no answer for {len(missing)} MM-Vet question(s) (first: {missing[0]})")
    return [
        JudgeRequest(item_id(qid, run), [{"role": "user", "content": grading_question(item, predictions[qid])}],
                     temperature=0.0, max_tokens=3, extra={"question_id": qid, "run": run})
        for run in range(num_runs)
        for qid, item in data.items()
    ]  # fmt: skip


def capability_scores(
    data: Mapping[str, dict], grades: Mapping[str, float], num_runs: int, decimal_places: int = 1
) -> dict[str, float | str]:
    """`{capability: score, ..., "total": score, "std": std, "runs": "[...]"}`, the official arithmetic."""
    counter = Counter(cap for item in data.values() for cap in set(item["capability"]))
    columns = [cap for cap, _ in counter.most_common()]
    sums = {cap: [0.0] * num_runs for cap in [*columns, "total"]}
    for qid, item in data.items():
        for run in range(num_runs):
            score = grades[item_id(qid, run)]
            for cap in set(item["capability"]):
                sums[cap][run] += score
            sums["total"][run] += score
    counts = {**counter, "total": len(data)}
    per_run = {cap: np.array(values) / counts[cap] * 100 for cap, values in sums.items()}
    result: dict[str, float | str] = {cap: round(values.mean(), decimal_places) for cap, values in per_run.items()}
    result["std"] = round(per_run["total"].std(), decimal_places)
    result["runs"] = str([float(x) for x in np.round(per_run["total"], decimal_places)])
    return result


def integration_scores(
    data: Mapping[str, dict], grades: Mapping[str, float], num_runs: int, decimal_places: int = 1
) -> dict[str, float]:
    """MM-Vet's second table: the score of each capability *integration* (the exact set of capabilities an item
    needs), most frequent first, as the official script computes it: each item counts once, under its own set.

    The official script names a set by joining it in Python's set order, which changes from run to run; here the
    capabilities are joined in the order of the first item that has the set, so the names are stable.
    """
    names: dict[frozenset[str], str] = {}
    counts: Counter[frozenset[str]] = Counter()
    sums: dict[frozenset[str], list[float]] = {}
    for qid, item in data.items():
        key = frozenset(item["capability"])
        names.setdefault(key, "_".join(dict.fromkeys(item["capability"])))
        counts[key] += 1
        runs = sums.setdefault(key, [0.0] * num_runs)
        for run in range(num_runs):
            runs[run] += grades[item_id(qid, run)]
    return {
        names[key]: round(float((np.array(sums[key]) / count * 100).mean()), decimal_places)
        for key, count in counts.most_common()
    }


def grade(args: argparse.Namespace, client: JudgeClient | None = None) -> dict[str, float | str]:
    metadata = Path(args.mmvet_path).expanduser() / "mm-vet.json"
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata} is missing; extract MM-Vet's mm-vet.zip into --mmvet-path")
    data = json.loads(metadata.read_text())
    predictions = json.loads(Path(args.result_file).expanduser().read_text())
    check_known(predictions, data, args.result_file, str(metadata))
    requests = build_requests(data, predictions, args.num_runs)
    outcome: JudgeOutcome = run_judge(
        requests, parse_grade, client or JudgeClient.from_args(args), args.grade_file, args.judge_workers,
        policy_from_args(args), retry=retry_grade,
    )  # fmt: skip
    outcome.require_complete([r.item_id for r in requests])
    grades = {key: record["parsed"] for key, record in outcome.results.items()}
    scores = capability_scores(data, grades, args.num_runs, args.decimal_places)
    for name, value in scores.items():
        print(f"{name}: {value}")
    print("capability integrations:")
    for name, value in integration_scores(data, grades, args.num_runs, args.decimal_places).items():
        print(f"  {name}: {value}")
    if args.run_record is not None:
        answers = read_jsonl(args.answers_file)
        record_from_answers(args, "mmvet", float(scores["total"]), scores, answers, args.answers_file)
    return scores


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmvet-path", required=True, help="folder with mm-vet.json")
    parser.add_argument("--result-file", required=True, help="convert_mmvet_for_eval.py output ({v1_<id>: answer})")
    parser.add_argument("--grade-file", required=True, help="judge results (JSON lines; resumed when it exists)")
    parser.add_argument("--num-runs", type=int, default=1, help="grading runs (the MM-Vet paper uses 5)")
    parser.add_argument("--decimal-places", type=int, default=1)
    parser.add_argument("--answers-file", default=None, help="the model's answers: the run record's model and setting")
    add_judge_args(parser, DEFAULT_JUDGE)
    add_run_record_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, float | str]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run_record is not None and args.answers_file is None:
        parser.error("--run-record needs --answers-file (the model's answers, for its setting)")
    return grade(args)


if __name__ == "__main__":
    main()
