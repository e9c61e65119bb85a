"""MME's answer converter (LLaVA ships it as `convert_answer_to_mme.py` inside `eval.zip`'s MME folder).

    python -m llava.eval.convert_answer_to_mme --experiment llava-v1.5-7b --data-dir playground/data/eval/MME

Reads `<data-dir>/answers/<experiment>.jsonl` and the ground truth in `<data-dir>/MME_Benchmark_release_version`
(`<category>/[questions_answers_YN/]<image>.txt`, one "question\\tanswer" line per question), and writes one
`<category>.txt` per subtask to `<data-dir>/eval_tool/answers/<experiment>/`, each line
"image_file\\tquestion\\tground_truth\\tanswer", in answer order (the two questions of an image stay adjacent, which
`mme_score` relies on). The record's prompt is mapped back to MME's question: the "Answer the question using a
single word or phrase." suffix is removed and " Please answer yes or no." restored (with MME's occasional double
space). Unlike the original, tabs and newlines inside an answer become spaces, so a chatty answer cannot break
the tab-separated line format.
"""

import argparse
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import read_jsonl

SHORT_ANSWER_SUFFIX = "Answer the question using a single word or phrase."
YES_NO_SUFFIX = " Please answer yes or no."
GroundTruth = dict[tuple[str, str, str], str]


def get_gt(data_path: str | Path) -> GroundTruth:
    """`{(category, question_file, question): answer}` from MME's release folder."""
    data_path = Path(data_path).expanduser()
    if not data_path.is_dir():
        raise FileNotFoundError(f"MME ground truth folder {data_path} does not exist (MME_Benchmark_release_version)")
    truth: GroundTruth = {}
    for category_dir in sorted(p for p in data_path.iterdir() if p.is_dir()):
        qa_dir = category_dir / "questions_answers_YN" if (category_dir / "images").exists() else category_dir
        if not qa_dir.is_dir():
            raise FileNotFoundError(f"{qa_dir} is missing: {category_dir} has images/ but no questions_answers_YN/")
        for qa_file in sorted(qa_dir.glob("*.txt")):
            for line in qa_file.read_text().splitlines():
                if line.strip():
                    question, answer = line.strip().split("\t")
                    truth[(category_dir.name, qa_file.name, question)] = answer
    return truth


def mme_question(category: str, file: str, prompt: str, truth: GroundTruth) -> str:
    """The MME question a record's prompt came from (see the module docstring)."""
    question = prompt.replace(SHORT_ANSWER_SUFFIX, "").strip() if SHORT_ANSWER_SUFFIX in prompt else prompt
    if YES_NO_SUFFIX.strip() not in question:
        question = question + YES_NO_SUFFIX
        if (category, file, question) not in truth:
            question = question.replace(YES_NO_SUFFIX, " " + YES_NO_SUFFIX)
    if (category, file, question) not in truth:
        raise KeyError(f"no MME ground truth for {category}/{file}: {question!r}; wrong question file or data folder?")
    return question


def convert(answers: Sequence[dict], truth: GroundTruth) -> dict[str, list[str]]:
    """`{category: [tab-separated lines]}` for MME's calculation script."""
    lines: dict[str, list[str]] = defaultdict(list)
    for answer in answers:
        question_id = str(answer["question_id"])
        category = question_id.split("/")[0]
        file = question_id.split("/")[-1].split(".")[0] + ".txt"
        question = mme_question(category, file, answer["prompt"], truth)
        text = " ".join(answer["text"].split("\n")).replace("\t", " ")
        lines[category].append("\t".join((file, question, truth[(category, file, question)], text)))
    return dict(lines)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", required=True, help="answers file stem (answers/<experiment>.jsonl)")
    parser.add_argument("--data-dir", default=".", help="the MME folder of eval.zip (default: the current folder)")
    parser.add_argument("--answers-file", default=None, help="default: <data-dir>/answers/<experiment>.jsonl")
    parser.add_argument("--gt-dir", default=None, help="default: <data-dir>/MME_Benchmark_release_version")
    parser.add_argument("--output-dir", default=None, help="default: <data-dir>/eval_tool/answers/<experiment>")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir).expanduser()
    answers_file = args.answers_file or data_dir / "answers" / f"{args.experiment}.jsonl"
    output_dir = Path(args.output_dir or data_dir / "eval_tool" / "answers" / args.experiment)
    truth = get_gt(args.gt_dir or data_dir / "MME_Benchmark_release_version")
    output_dir.mkdir(parents=True, exist_ok=True)
    for category, lines in convert(read_jsonl(answers_file), truth).items():
        (output_dir / f"{category}.txt").write_text("".join(line + "\n" for line in lines))
    print(f"MME answers for {args.experiment} written to {os.fspath(output_dir)}")
    return output_dir


if __name__ == "__main__":
    main()
