"""Reading LLaVA's data files and the fields of one entry, shared by the dataset and the data check.

An entry is `{"id": ..., "image": "rel/path.jpg" (optional), "conversations": [{"from": "human"|"gpt", "value": ...}]}`
(LLaVA's `blip_laion_cc_sbu_558k.json` and `llava_v1_5_mix665k.json`). `image` may also be a one-element list.
"""

import json
import os
from pathlib import Path
from typing import Any

from llava.data.preprocess import SUPPORTED_TEMPLATES

# LLaVA's `--version` names and the template each one trains with (LLaVA maps v1 and vicuna_v1 to the same one).
VERSION_TEMPLATES: dict[str, str] = {"plain": "plain", "v1": "v1", "vicuna_v1": "v1"}


def template_for_version(version: str) -> str:
    """The preprocessing template of a `--version`; LLaVA silently falls back to vicuna_v1, this refuses instead."""
    if version not in VERSION_TEMPLATES:
        raise ValueError(
            f"--version {version!r} is not supported for training; use plain (pretraining) or v1 (finetuning). "
            f"Templates available: {SUPPORTED_TEMPLATES}."
        )
    return VERSION_TEMPLATES[version]


class DataFileError(ValueError):
    """The data file itself cannot be parsed; the message starts with `file:line:column`, as compilers report."""


def load_records(data_path: str | os.PathLike) -> list[dict[str, Any]]:
    """A JSON list of entries, or a JSON-lines file (`.jsonl`, one entry per line).

    A syntax error is reported with its file, line and column (LLaVA's `json.load` names neither the file nor, for
    a 1 GB single-line file, anything a user can find), plus the likely fix.
    """
    path = Path(data_path)
    if not path.is_file():
        raise FileNotFoundError(f"--data_path {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataFileError(f"{path}: not UTF-8 text (byte {error.start}): {error.reason}.") from error
    if path.suffix == ".jsonl":
        return [
            _json_line(path, number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()
        ]
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        hint = (
            " The file holds more than one JSON value: if it is JSON lines (one entry per line), name it .jsonl."
            if error.msg == "Extra data"
            else " Fix the file at that position (a truncated download or a hand edit is the usual cause)."
        )
        raise DataFileError(f"{path}:{error.lineno}:{error.colno}: malformed JSON ({error.msg}).{hint}") from error
    if not isinstance(records, list):
        raise DataFileError(f"{path}: expected a JSON list of entries, got a {type(records).__name__}.")
    return records


def _json_line(path: Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise DataFileError(
            f"{path}:{number}:{error.colno}: malformed JSON line ({error.msg}). Fix or remove that line."
        ) from error


def record_id(record: Any, index: int) -> str:
    """The entry's `id`, or `#<index>` when it has none, so every report line can be traced back to the file."""
    if isinstance(record, dict) and "id" in record:
        return str(record["id"])
    return f"#{index}"


def image_files(record: dict[str, Any]) -> list[str]:
    """The entry's image paths: `[]` for a text-only entry, one path for `"image": str`, the list as given."""
    image = record.get("image")
    if image is None:
        return []
    if isinstance(image, str):
        return [image]
    if isinstance(image, list) and all(isinstance(item, str) for item in image):
        return list(image)
    raise ValueError(f"`image` must be a path or a list of paths, got {image!r}")


def image_path(image_folder: str | None, image_file: str) -> Path:
    """Where an entry's image lives: relative to `--image_folder` (LLaVA's rule), or as given without one."""
    return Path(image_folder) / image_file if image_folder else Path(image_file)


def word_count(record: dict[str, Any]) -> int:
    """LLaVA's cheap length proxy: whitespace-separated words over all turns."""
    return sum(len(turn["value"].split()) for turn in record["conversations"])
