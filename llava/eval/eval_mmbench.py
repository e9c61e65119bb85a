"""MMBench dev accuracy, vanilla and circular, computed locally from the dev TSV's answers.

    python -m llava.eval.eval_mmbench --annotation-file playground/data/eval/mmbench/mmbench_dev_20230712.tsv \\
        --result-file playground/data/eval/mmbench/answers/.../answers.jsonl

MMBench's server scores with CircularEval: a question counts as right only if it is answered right under every
rotation of its options. Rotations come from either source, and both are grouped the same way:
- the dev TSV's own copies (rows `index + k x 1,000,000` with rotated options and their own `answer`), answered by
  LLaVA's `mmbench.sh` as separate rows;
- `model_vqa_mmbench --all-rounds`, which asks each row once per rotation (`round_id`; `option_char` names the
  original letter shown at each position, so the right letter of a round is where the row's answer moved to).
A group is keyed by `index % 1,000,000`. Each answer's letter is read with the official evaluator's rules
(OpenCompass `tools/eval_mmbench.py`, `can_infer`): exactly one of A-E as a whole word (unless "A" may be an article
in a longer answer), else exactly one of the forms "A." "A," "A:" "A)" "A)." "(A)" "(A)." ":A" ":A," ":A." ":A)"
":A).", else exactly one option text contained in the answer. The official evaluator then asks ChatGPT to match an
answer it cannot read; here such an answer counts as wrong and the number of them is printed (with
`--single-pred-prompt`, LLaVA answers a bare letter, and it is 0 in practice).

Printed: overall vanilla accuracy (first round of the main rows, `index < 1,000,000`), circular accuracy, and the
circular accuracy per `category` and `l2-category` when the TSV has them. Every TSV row needs an answer; answers to
rows the TSV lacks, or a (row, round) answered twice, are errors.
"""

import argparse
import string
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence

from llava.eval.answer_records import AnswersFileError, check_known, read_answers, read_jsonl
from llava.eval.mmbench_tsv import ALL_OPTIONS, is_none, question_id, read_tsv, row_options
from llava.eval.run_record import add_run_record_args, record_from_answers

CIRCULAR_OFFSET = 1_000_000
CHOICES = string.ascii_uppercase[:5]
AFFIXES = (("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."), (":", ""), (":", ","),
           (":", "."), (":", ")"), (":", ")."))  # fmt: skip


def can_infer_option(answer: str) -> str | None:
    """The official letter rule (see the module docstring)."""
    words = [word.strip() for word in answer.split()]

    def count(prefix: str = "", suffix: str = "") -> int:
        return sum(prefix + c + suffix in words for c in CHOICES)

    if count() == 1 and not ("A" in words and len(words) > 3):
        return next(c for c in CHOICES if c in words)
    for prefix, suffix in AFFIXES:
        if count(prefix, suffix) == 1:
            return next(c for c in CHOICES if prefix + c + suffix in words)
    return None


def can_infer_text(answer: str, options: Mapping[str, str]) -> str | None:
    answer = answer.lower()
    hits = [letter for letter, text in options.items() if str(text).lower() in answer]
    return hits[0] if len(hits) == 1 else None


def infer_letter(answer: str, options: Mapping[str, str]) -> str | None:
    return can_infer_option(answer) or can_infer_text(answer, options)


def evaluate(rows: Sequence[dict[str, str]], answers: Mapping) -> dict[str, float | int]:
    """Vanilla and circular accuracy (percent), per category, and the count of unreadable answers."""
    by_index = {question_id(row): row for row in rows}
    groups: dict[int, list[bool]] = defaultdict(list)
    vanilla: list[bool] = []
    unreadable = 0
    for (qid, round_id), record in answers.items():
        row = by_index[qid]
        shown = record.get("options") or row_options(row)
        letters = list(ALL_OPTIONS[: len(shown)])
        original = record.get("option_char") or letters
        truth = row["answer"].strip()
        if truth not in original:
            raise AnswersFileError(f"row {qid}: answer {truth!r} is not one of its options {original}")
        right_letter = letters[original.index(truth)]
        letter = infer_letter(record["text"], dict(zip(letters, shown, strict=True)))
        unreadable += letter is None
        correct = letter == right_letter
        groups[int(qid) % CIRCULAR_OFFSET].append(correct)
        if int(qid) < CIRCULAR_OFFSET and round_id == 0:
            vanilla.append(correct)
    circular = {group: all(results) for group, results in groups.items()}
    result: dict[str, float | int] = {
        "circular": 100 * sum(circular.values()) / len(circular),
        "vanilla": 100 * sum(vanilla) / len(vanilla) if vanilla else float("nan"),
        "questions": len(circular),
        "instances": sum(len(v) for v in groups.values()),
        "unreadable": unreadable,
    }
    for column in ("category", "l2-category"):
        buckets: dict[str, list[bool]] = defaultdict(list)
        for group, correct in circular.items():
            value = by_index.get(group, {}).get(column)
            if not is_none(value):
                buckets[value].append(correct)
        for name, values in sorted(buckets.items()):
            result[f"{column}/{name}"] = 100 * sum(values) / len(values)
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, float | int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation-file", required=True, help="the MMBench dev TSV (with the answer column)")
    parser.add_argument("--result-file", required=True, help="model_vqa_mmbench answers")
    parser.add_argument("--benchmark", default="mmbench", help="run-record name (mmbench_cn for MMBench-CN)")
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    rows = read_tsv(args.annotation_file)
    if rows and "answer" not in rows[0]:
        raise AnswersFileError(f"{args.annotation_file} has no answer column (a test split): score it on the server")
    records = read_jsonl(args.result_file)
    answers = read_answers(args.result_file, key=lambda r: (r["question_id"], r.get("round_id", 0)))
    indices = [question_id(row) for row in rows]
    check_known({qid for qid, _ in answers}, indices, args.result_file, args.annotation_file)
    unanswered = sorted(set(indices) - {qid for qid, _ in answers})
    if unanswered:
        raise AnswersFileError(f"{len(unanswered)} TSV row(s) have no answer (first index: {unanswered[0]})")
    result = evaluate(rows, answers)
    print(
        f"Questions: {result['questions']}, answers: {result['instances']}, unreadable answers: {result['unreadable']}"
    )
    print(f"Vanilla accuracy: {result['vanilla']:.2f}%")
    print(f"Circular accuracy: {result['circular']:.2f}%")
    for name, value in result.items():
        if "/" in name:
            print(f"  {name}: {value:.2f}%")
    if result["unreadable"]:
        print(f"[WARNING] {result['unreadable']} answer(s) name no option; counted wrong (the official evaluator would "
              "ask ChatGPT to match them)", file=sys.stderr)  # fmt: skip
    record_from_answers(args, args.benchmark, result["circular"], result, records, args.result_file)
    return result


if __name__ == "__main__":
    main()
