"""LLaVA's `convert_gqa_for_eval`: answers JSONL → GQA's predictions JSON (`[{questionId, prediction}]`).

    python scripts/convert_gqa_for_eval.py --src answers/merge.jsonl --dst gqa/data/testdev_balanced_predictions.json

Predictions are lower-cased with trailing periods removed, the only normalisation GQA's exact-match scorer gets.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path


def convert(records: Sequence[dict]) -> list[dict]:
    return [{"questionId": r["question_id"], "prediction": r["text"].rstrip(".").lower()} for r in records]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="answers JSONL from model_vqa_loader")
    parser.add_argument("--dst", required=True, help="predictions JSON for GQA's eval.py / llava.eval.eval_gqa")
    args = parser.parse_args(argv)
    lines = Path(args.src).read_text().splitlines()
    Path(args.dst).write_text(json.dumps(convert([json.loads(line) for line in lines if line.strip()])))


if __name__ == "__main__":
    main()
