"""LLaVA's `convert_seed_for_submission`: SEED-Bench accuracy per question type, image / video / all, and the upload.

    python scripts/convert_seed_for_submission.py --annotation-file playground/data/eval/seed_bench/SEED-Bench.json \\
        --result-file answers/.../merge.jsonl --result-upload-file answers_upload/llava-v1.5-7b.jsonl

An answer is right when its text equals the question's answer letter exactly ("A"; " A" or "A." are wrong), as in
LLaVA. Printed as LLaVA prints: one "<type name>: <acc>%" line per question type (type id order), "Total accuracy",
then "image accuracy" and "video accuracy"; every accuracy is correct / count x 100 over the questions of that
group, a question without an answer counting as wrong. The upload file has one `{"question_id", "prediction"}` line
per SEED question.

Differences from LLaVA: an unanswered question makes the script fail after printing (LLaVA crashed with a KeyError
while writing the upload), and a malformed line, a duplicate or an unknown question id is an error; a data type
with no question prints "n/a" instead of dividing by zero. `--run-record` records the total accuracy (SEED in
LLaVA-1.5's table) with the image and video accuracies as metrics.
"""

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from llava.eval.answer_records import AnswersFileError, check_known, read_answers, read_jsonl
from llava.eval.run_record import add_run_record_args, record_from_answers


def normalize_id(question_id: object) -> int | str:
    """LLaVA's `int(question_id)` when it parses, else the id as given."""
    try:
        return int(question_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(question_id)


def accuracy(
    data: Mapping, results: Mapping, only_type: str | None = None
) -> tuple[dict[int | str, float], float | None]:
    """Per question type accuracy and the total, over the questions of `only_type` (image/video) or all."""
    counts: dict = {}
    correct: dict = {}
    for question in data["questions"]:
        if only_type is not None and question["data_type"] != only_type:
            continue
        kind = question["question_type_id"]
        counts[kind] = counts.get(kind, 0) + 1
        row = results.get(normalize_id(question["question_id"]))
        correct[kind] = correct.get(kind, 0) + int(row is not None and row["text"] == question["answer"])
    per_type = {kind: correct[kind] / counts[kind] * 100 for kind in sorted(counts)}
    total = sum(counts.values())
    return per_type, (sum(correct.values()) / total * 100 if total else None)


def main(argv: Sequence[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation-file", required=True, help="SEED-Bench.json")
    parser.add_argument("--result-file", required=True)
    parser.add_argument("--result-upload-file", required=True)
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    data = json.loads(Path(args.annotation_file).expanduser().read_text())
    names = {type_id: name for name, type_id in data["question_type"].items()}
    records = read_jsonl(args.result_file)
    results = read_answers(args.result_file, key=lambda r: normalize_id(r["question_id"]))
    check_known(results, [normalize_id(q["question_id"]) for q in data["questions"]], args.result_file,
                args.annotation_file)  # fmt: skip
    per_type, total = accuracy(data, results)
    for kind, value in per_type.items():
        print(f"{names[kind]}: {value:.2f}%")
    print(f"Total accuracy: {total:.2f}%")
    summary: dict[str, float | None] = {"total": total}
    for only in ("image", "video"):
        _, value = accuracy(data, results, only)
        summary[only] = value
        print(f"{only} accuracy: {'n/a (no question of this type)' if value is None else f'{value:.2f}%'}")
    missing = [q["question_id"] for q in data["questions"] if normalize_id(q["question_id"]) not in results]
    if missing:
        print(f"[ERROR] {len(missing)} question(s) have no answer (first: {missing[0]!r}); counted wrong above. "
              "No upload file or run record was written.", file=sys.stderr)  # fmt: skip
        raise AnswersFileError(f"{len(missing)} SEED question(s) have no answer (first: {missing[0]!r})")
    upload = Path(args.result_upload_file)
    upload.parent.mkdir(parents=True, exist_ok=True)
    with upload.open("w") as handle:
        for question in data["questions"]:
            prediction = results[normalize_id(question["question_id"])]["text"]
            handle.write(json.dumps({"question_id": question["question_id"], "prediction": prediction}) + "\n")
    metrics = {**summary, **{f"type_{names[kind]}": value for kind, value in per_type.items()}}
    record_from_answers(args, "seed", total, metrics, records, args.result_file)
    return summary


if __name__ == "__main__":
    main()
