"""Build the LLaVA-format question file of the VQAv2 or VizWiz *val* split, for local scores with `eval_vqa`.

    python -m llava.eval.build_vqa_val --benchmark vqav2 \\
        --questions playground/data/eval/vqav2/v2_OpenEnded_mscoco_val2014_questions.json \\
        --out playground/data/eval/vqav2/llava_vqav2_mscoco_val2014.jsonl [--limit 5000] \\
        [--suffix-from playground/data/eval/vqav2/llava_vqav2_mscoco_test-dev2015.jsonl]
    python -m llava.eval.build_vqa_val --benchmark vizwiz --questions playground/data/eval/vizwiz/val.json \\
        --out playground/data/eval/vizwiz/llava_val.jsonl [--suffix-from playground/data/eval/vizwiz/llava_test.jsonl]

LLaVA's `eval.zip` ships only the test splits, which the EvalAI servers score. The val split is scored locally
(`python -m llava.eval.eval_vqa`) on a question file in the same format as the test file, so that the answers
come from exactly the prompt the published numbers used: one JSON line per question, `{"question_id", "image",
"text", "category"}`, `text` being the question and the benchmark's prompt suffix. `--suffix-from` takes the suffix
from LLaVA's own test file (everything after the question's first line), which is the reference; without it, the
suffixes below are used. Inputs are the official files: VQAv2's `{"questions": [{"question_id", "image_id",
"question"}]}` (images `COCO_val2014_<12-digit id>.jpg`) and VizWiz's `[{"image", "question", ...}]` (question ids are
positions, as in `llava_test.jsonl`; `eval_vqa` matches VizWiz annotations by image).
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import read_jsonl

SUFFIXES = {
    "vqav2": "\nAnswer the question using a single word or phrase.",
    "vizwiz": "\nWhen the provided information is insufficient, respond with 'Unanswerable'."
    "\nAnswer the question using a single word or phrase.",
}


def suffix_of(test_file: str | Path) -> str:
    """The prompt suffix of a LLaVA test question file: the first question's text after its first line."""
    questions = read_jsonl(test_file)
    if not questions:
        raise ValueError(f"{test_file} has no question to take the prompt suffix from")
    text = questions[0]["text"]
    if "\n" not in text:
        raise ValueError(f"{test_file}: the first question's text has no suffix line: {text!r}")
    return text[text.index("\n") :]


def _official(path: str | Path) -> object:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"official question file {path} does not exist; download the val split first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}") from None


def vqav2_questions(official: object, suffix: str) -> list[dict]:
    if not isinstance(official, dict) or "questions" not in official:
        raise ValueError('a VQAv2 question file is {"questions": [...]}; is this v2_OpenEnded_mscoco_val2014_questions.json?')
    return [
        {
            "question_id": q["question_id"],
            "image": f"COCO_val2014_{q['image_id']:012d}.jpg",
            "text": q["question"] + suffix,
            "category": "default",
        }
        for q in official["questions"]
    ]


def vizwiz_questions(official: object, suffix: str) -> list[dict]:
    if not isinstance(official, list):
        raise ValueError('a VizWiz annotation file is a list of {"image", "question", ...}; is this val.json?')
    return [
        {"question_id": index, "image": q["image"], "text": q["question"] + suffix, "category": "default"}
        for index, q in enumerate(official)
    ]


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True, choices=sorted(SUFFIXES))
    parser.add_argument("--questions", required=True, help="VQAv2 val questions JSON / VizWiz val.json")
    parser.add_argument("--out", required=True, help="the LLaVA-format .jsonl to write")
    parser.add_argument("--suffix-from", default=None, help="LLaVA's test question file, to copy its prompt suffix")
    parser.add_argument("--limit", type=int, default=None, help="keep the first N questions (a val subset)")
    args = parser.parse_args(argv)
    suffix = suffix_of(args.suffix_from) if args.suffix_from else SUFFIXES[args.benchmark]
    build = vqav2_questions if args.benchmark == "vqav2" else vizwiz_questions
    questions = build(_official(args.questions), suffix)[: args.limit]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(q) + "\n" for q in questions))
    print(f"wrote {len(questions)} {args.benchmark} val questions to {out}")
    return out


if __name__ == "__main__":
    main()
