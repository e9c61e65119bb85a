"""MMBench's TSV format: reading rows, their options, and the question text LLaVA builds from them.

LLaVA reads the TSV with pandas; here the standard `csv` module reads it, and the strings pandas would parse as
missing ("", "nan", "None", "NA", ...) count as missing, so option lists and hints match LLaVA's exactly.
"""

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

ALL_OPTIONS = ("A", "B", "C", "D")
# pandas.read_table's default NA strings: LLaVA reads the TSV with pandas, so these cells are "missing" there.
PANDAS_NA = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
     "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip


def is_none(value: str | None) -> bool:
    """LLaVA's `is_none` on a cell as pandas would have parsed it."""
    return value is None or value in PANDAS_NA or value.lower() in ("nan", "none")


def read_tsv(path: str | Path) -> list[dict[str, str]]:
    """All rows of an MMBench TSV; base64 image cells exceed csv's default field limit."""
    csv.field_size_limit(sys.maxsize)
    with Path(path).expanduser().open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    required = {"index", "question", "image", "A", "B"}
    if rows and not required <= set(rows[0]):
        raise ValueError(f"{path}: an MMBench TSV needs the columns {sorted(required)}; found {sorted(rows[0])}")
    return rows


def row_options(row: dict[str, str]) -> list[str]:
    """The option texts up to the first missing one (LLaVA's `get_options`)."""
    options = []
    for letter in ALL_OPTIONS:
        value = row.get(letter)
        if is_none(value):
            break
        options.append(value)
    return options


def question_text(row: dict[str, str], options: Sequence[str]) -> str:
    """`[hint\\n]question` then one `\\nX. option` line per option, letters always A, B, ... in order."""
    question = row["question"]
    if not is_none(row.get("hint")):
        question = row["hint"] + "\n" + question
    for letter, option in zip(ALL_OPTIONS, options, strict=False):
        question += "\n" + letter + ". " + option
    return question


def question_id(row: dict[str, str]) -> int | str:
    """The `index` column, as the integer pandas would have read."""
    index = row["index"]
    return int(index) if index.lstrip("-").isdigit() else index
