"""LLaVA's `convert_mmvet_for_eval`: answers → MM-Vet's result file `{"v1_<question_id>": answer}`.

    python scripts/convert_mmvet_for_eval.py --src answers/mmvet.jsonl --dst results/llava-v1.5-7b.json

The file is what MM-Vet's official grader (and `python -m llava.eval.eval_mmvet`) reads; written with indent 2 as
LLaVA writes it. A malformed line or a question answered twice is an error.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import read_answers


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="answers from model_vqa on llava-mm-vet.jsonl")
    parser.add_argument("--dst", required=True)
    args = parser.parse_args(argv)
    answers = read_answers(args.src)
    dst = Path(args.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps({f"v1_{qid}": record["text"] for qid, record in answers.items()}, indent=2))
    return dst


if __name__ == "__main__":
    main()
