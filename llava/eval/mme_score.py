"""MME scores from `convert_answer_to_mme`'s files, computed as MME's official `eval_tool/calculation.py` does.

    python -m llava.eval.mme_score --results-dir playground/data/eval/MME/eval_tool/answers/llava-v1.5-7b

For each subtask file (lines "image\\tquestion\\tground_truth\\tanswer", two consecutive lines per image):
- an answer is "yes"/"no" when it is exactly that (lower-cased), else when its first 4 characters contain "yes"
  (then "no"), else "other" (always wrong);
- acc = correct answers / answers; acc+ = images with both answers correct / images;
- subtask score = 100·acc + 100·acc+ (at most 200).
Perception sums its 10 subtasks (max 2000), cognition its 4 (max 800); the paper's MME number is their total.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llava.eval.answer_records import read_jsonl
from llava.eval.run_record import add_run_record_args, record_from_answers

EVAL_TYPES: dict[str, tuple[str, ...]] = {
    "Perception": ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork",
                   "OCR"),
    "Cognition": ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"),
}  # fmt: skip


def parse_pred_ans(answer: str) -> str:
    """The official rule: exact yes/no, else "yes"/"no" inside the first 4 characters, else "other"."""
    if answer in ("yes", "no"):
        return answer
    prefix = answer[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


@dataclass(frozen=True)
class TaskScore:
    acc: float
    acc_plus: float

    @property
    def score(self) -> float:
        return 100 * self.acc + 100 * self.acc_plus


def score_task(lines: Sequence[str]) -> TaskScore:
    """acc and acc+ of one subtask's lines (pairs per image; malformed lines and odd trailing lines skipped)."""
    pairs = [lines[i : i + 2] for i in range(0, len(lines), 2)]
    correct = answered = both_correct = 0
    for pair in pairs:
        if len(pair) != 2:
            continue
        image_correct = 0
        for line in pair:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4:
                continue
            truth, prediction = fields[2].lower(), parse_pred_ans(fields[3].lower())
            if truth not in ("yes", "no"):
                raise ValueError(f"ground truth must be yes or no, got {fields[2]!r} in line {line!r}")
            answered += 1
            correct += prediction == truth
            image_correct += prediction == truth
        both_correct += image_correct == 2
    if answered == 0:
        raise ValueError("no scorable line (expected 'image\\tquestion\\tground_truth\\tanswer')")
    return TaskScore(acc=correct / answered, acc_plus=both_correct / len(pairs))


def score_results(results_dir: str | Path) -> dict[str, dict[str, TaskScore]]:
    """`{eval type: {subtask: TaskScore}}`; every subtask file must be present (a missing one would lower the total)."""
    results_dir = Path(results_dir).expanduser()
    missing = [t for tasks in EVAL_TYPES.values() for t in tasks if not (results_dir / f"{t}.txt").is_file()]
    if missing:
        raise FileNotFoundError(f"{results_dir} lacks subtask file(s) {', '.join(f'{t}.txt' for t in missing)}")
    return {
        eval_type: {task: score_task((results_dir / f"{task}.txt").read_text().splitlines()) for task in tasks}
        for eval_type, tasks in EVAL_TYPES.items()
    }


def totals(scores: dict[str, dict[str, TaskScore]]) -> dict[str, float]:
    """Per eval type total, plus "Total" (perception + cognition)."""
    result = {eval_type: sum(t.score for t in tasks.values()) for eval_type, tasks in scores.items()}
    result["Total"] = sum(result.values())
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", "--results_dir", dest="results_dir", required=True,
                        help="the folder convert_answer_to_mme wrote (eval_tool/answers/<experiment>)")  # fmt: skip
    parser.add_argument("--answers-file", default=None,
                        help="the generator's answers: the run record's model and setting")  # fmt: skip
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    if args.run_record is not None and args.answers_file is None:
        parser.error("--run-record needs --answers-file (the setting is read from the generator's answers)")
    scores = score_results(args.results_dir)
    summary = totals(scores)
    for eval_type, tasks in scores.items():
        print(f"=========== {eval_type} ===========")
        print(f"total score: {summary[eval_type]}\n")
        for task, task_score in tasks.items():
            print(f"\t {task}  score: {task_score.score}")
        print()
    print(f"Perception + Cognition total: {summary['Total']:.2f}")
    if args.run_record is not None:
        metrics = {"perception": summary["Perception"], "cognition": summary["Cognition"], "total": summary["Total"]}
        record_from_answers(args, "mme", summary["Total"], metrics, read_jsonl(args.answers_file), args.answers_file)
    return summary


if __name__ == "__main__":
    main()
