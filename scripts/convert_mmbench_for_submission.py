"""LLaVA's `convert_mmbench_for_submission`: answers JSONL → the xlsx OpenCompass's MMBench server scores.

    python scripts/convert_mmbench_for_submission.py --annotation-file mmbench/mmbench_dev_20230712.tsv \\
        --result-dir mmbench/answers/mmbench_dev_20230712 --upload-dir mmbench/answers_upload/mmbench_dev_20230712 \\
        --experiment llava-v1.5-7b

The sheet is the TSV without its hint/category/source/image/comment/l2-category columns, with a `prediction`
column inserted before `answer`; with `--all-rounds` answers the last round of a question wins, as in LLaVA.
Writing xlsx needs pandas and openpyxl (the `eval` extra: `pip install -e .[eval]`).
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import read_jsonl
from llava.eval.mmbench_tsv import is_none, question_id, read_tsv

DROPPED_COLUMNS = ("hint", "category", "source", "image", "comment", "l2-category")
PREDICTION_POSITION = 6


def submission_table(rows: Sequence[dict[str, str]], answers: Sequence[dict]) -> tuple[list[str], list[list]]:
    """(columns, rows) of the upload sheet; a question without an answer gets an empty prediction."""
    predictions = {record["question_id"]: record["text"] for record in answers}
    columns = [c for c in (rows[0] if rows else {}) if c not in DROPPED_COLUMNS]
    columns.insert(min(PREDICTION_POSITION, len(columns)), "prediction")
    table = []
    for row in rows:
        values = {c: (None if is_none(row[c]) else row[c]) for c in row if c not in DROPPED_COLUMNS}
        values["index"] = question_id(row)
        values["prediction"] = predictions.get(values["index"])
        table.append([values[c] for c in columns])
    return columns, table


def write_xlsx(columns: list[str], table: list[list], path: Path) -> None:
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(
            "writing the MMBench upload sheet needs pandas and openpyxl: `pip install -e .[eval]`"
        ) from error
    pd.DataFrame(table, columns=columns).to_excel(path, index=False, engine="openpyxl")


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation-file", required=True, help="the MMBench TSV the answers came from")
    parser.add_argument("--result-dir", required=True, help="folder holding <experiment>.jsonl")
    parser.add_argument("--upload-dir", required=True, help="where <experiment>.xlsx is written")
    parser.add_argument("--experiment", required=True)
    args = parser.parse_args(argv)
    answers_file = Path(args.result_dir) / f"{args.experiment}.jsonl"
    answers = read_jsonl(answers_file)  # a malformed line is an error with its number
    columns, table = submission_table(read_tsv(args.annotation_file), answers)
    upload = Path(args.upload_dir) / f"{args.experiment}.xlsx"
    upload.parent.mkdir(parents=True, exist_ok=True)
    write_xlsx(columns, table, upload)
    print(f"MMBench upload sheet written to {upload}")
    return upload


if __name__ == "__main__":
    main()
