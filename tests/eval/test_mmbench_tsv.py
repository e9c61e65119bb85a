"""MMBench's TSV: options up to the first missing cell (pandas' NA strings), the question text, the upload sheet."""

import importlib.util
from pathlib import Path

from llava.eval.mmbench_tsv import question_id, question_text, read_tsv, row_options

REPO = Path(__file__).resolve().parents[2]
HEADER = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit"


def _load_converter():
    spec = importlib.util.spec_from_file_location("convert_mmbench", REPO / "scripts/convert_mmbench_for_submission.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tsv(path: Path) -> Path:
    rows = [
        "7\tWhat is shown?\tnan\tA cat\tA dog\t\t\tA\tcat\tIMG\tsrc\tl2\t\tdev",
        "8\tWhich colour?\tThe sky at noon.\tblue\tgreen\tred\tNone\tA\tcolor\tIMG\tsrc\tl2\t\tdev",
    ]
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def test_options_and_question_text(tmp_path: Path) -> None:
    first, second = read_tsv(write_tsv(tmp_path / "dev.tsv"))
    assert row_options(first) == ["A cat", "A dog"]
    assert row_options(second) == ["blue", "green", "red"]  # "None" is missing, as pandas reads it
    assert question_text(first, row_options(first)) == "What is shown?\nA. A cat\nB. A dog"
    assert (
        question_text(second, ["green", "red", "blue"]) == "The sky at noon.\nWhich colour?\nA. green\nB. red\nC. blue"
    )
    assert question_id(first) == 7


def test_upload_sheet_columns_and_predictions(tmp_path: Path) -> None:
    rows = read_tsv(write_tsv(tmp_path / "dev.tsv"))
    columns, table = _load_converter().submission_table(rows, [{"question_id": 8, "text": "A"}])
    assert columns == ["index", "question", "A", "B", "C", "D", "prediction", "answer", "split"]
    assert table[0] == [7, "What is shown?", "A cat", "A dog", None, None, None, "A", "dev"]
    assert table[1][6] == "A"
