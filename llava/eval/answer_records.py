"""LLaVA's answer files: one JSON record per line, `{question_id, prompt, text, answer_id, model_id, metadata}`.

Every scorer (and LLaVA's own converters) reads this format, so generators write nothing else at the top level
except the benchmark-specific keys LLaVA itself adds (MMBench's `round_id`, `options`, `option_char`).
"""

import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import shortuuid


def answer_record(question_id: Any, prompt: str, text: str, model_id: str, metadata: dict, **extra: Any) -> dict:
    """One record in LLaVA's format; `extra` holds benchmark-specific keys (MMBench's `round_id`, `options`, ...)."""
    return {
        "question_id": question_id,
        "prompt": prompt,
        "text": text,
        **extra,
        "answer_id": shortuuid.uuid(),
        "model_id": model_id,
        "metadata": metadata,
    }


class AnswerWriter:
    """Writes records as JSON lines, flushing each one so a crashed run keeps what it answered."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def __enter__(self) -> "AnswerWriter":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()


def read_jsonl(path: str | Path) -> list[dict]:
    """All records of a JSON-lines file (blank lines skipped), with the line number in any parse error."""
    return list(_iter_jsonl(Path(path).expanduser()))


def _iter_jsonl(path: Path) -> Iterator[dict]:
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not valid JSON: {error}") from None
