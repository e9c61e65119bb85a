"""LLaVA's answer files: one JSON record per line, `{question_id, prompt, text, answer_id, model_id, metadata}`.

Every scorer (and LLaVA's own converters) reads this format, so generators write nothing else at the top level
except the benchmark-specific keys LLaVA itself adds (MMBench's `round_id`, `options`, `option_char`).

Two things LLaVA's files lack are added here, because a wrong score is worse than no score:
- reading is strict: a malformed line is an error naming its line number, a question answered twice or an answer
  to a question the benchmark does not have is an error naming the id (`index_answers`, `check_known`);
- writing can resume: a rerun of a generator appends to an interrupted answers file instead of starting over, after
  checking that the file was written under the same model and setting (`ResumableAnswers`). A last line cut short by
  a crash is the only damage repaired silently-but-reported: it is dropped and answered again.
"""

import json
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import shortuuid

# Metadata fields that must agree between the records already in a file and a resumed run.
SETTING_FIELDS = ("duet", "duet_preset", "query_path", "temporal_attention")


class AnswersFileError(ValueError):
    """An answers or question file that cannot be scored as it is; the message names the line or id and the fix."""


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


def record_key(record: Mapping[str, Any]) -> Hashable:
    """The identity of an answer: its question id, plus the round for MMBench's circular rounds."""
    if "question_id" not in record:
        raise AnswersFileError(f"an answer record has no question_id (keys: {sorted(record)})")
    question_id = record["question_id"]
    return (question_id, record["round_id"]) if "round_id" in record else question_id


def question_prompt_key(record: Mapping[str, Any]) -> Hashable:
    """(question_id, prompt): the identity of a loader answer. MME's question file gives both questions about an
    image the image's path as `question_id`, so the id alone does not identify a question there."""
    return (record["question_id"], record["prompt"])


def read_jsonl(path: str | Path) -> list[dict]:
    """All records of a JSON-lines file (blank lines skipped); a malformed line is an error with its number."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [record for _, record in _iter_jsonl(path)]


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise AnswersFileError(
                    f"{path}:{number} is not valid JSON ({error}); fix or delete that line"
                ) from None
            if not isinstance(record, dict):
                raise AnswersFileError(f"{path}:{number} is a JSON {type(record).__name__}, not a record object")
            yield number, record


def index_answers(
    records: Iterable[Mapping[str, Any]], source: str | Path, key: Callable[[Mapping[str, Any]], Hashable] = record_key
) -> dict[Hashable, dict]:
    """`{key: record}`, refusing a question answered twice (a rerun appended to the file, or chunks merged twice)."""
    indexed: dict[Hashable, dict] = {}
    for record in records:
        identity = key(record)
        if identity in indexed:
            raise AnswersFileError(
                f"{source}: question {identity!r} is answered more than once. Fix: regenerate the file, or remove the "
                "duplicate lines (a chunk merged twice, or a rerun that appended instead of resuming)."
            )
        indexed[identity] = dict(record)
    return indexed


def read_answers(path: str | Path, key: Callable[[Mapping[str, Any]], Hashable] = record_key) -> dict[Hashable, dict]:
    """An answers file indexed by `key` (strict: malformed lines and duplicate ids are errors)."""
    return index_answers(read_jsonl(path), path, key)


def check_known(answered: Iterable[Hashable], known: Iterable[Hashable], source: str | Path, what: str) -> None:
    """Every answered id must be one of `known`; an unknown id means the answers belong to another file or split."""
    known = set(known)
    unknown = [identity for identity in answered if identity not in known]
    if unknown:
        raise AnswersFileError(
            f"{source}: {len(unknown)} answer(s) to questions that {what} does not have (first: {unknown[0]!r}). "
            "Fix: score the answers against the question/annotation file they were generated from."
        )


def setting_of(metadata: Mapping[str, Any] | None) -> dict:
    """The part of a record's metadata that identifies the setting it was produced under."""
    metadata = metadata or {}
    return {name: metadata.get(name) for name in SETTING_FIELDS}


class ResumableAnswers:
    """An answers file opened for appending, knowing which questions it already answers.

    `overwrite=True` starts a new file (LLaVA's behaviour). Otherwise an existing file is resumed when every record
    in it was written by the same `model_id` under the same setting; anything else is an error rather than a file
    that mixes two settings. Records are flushed one by one, so a crash loses at most the line being written.
    """

    def __init__(
        self,
        path: str | Path,
        model_id: str,
        metadata: Mapping[str, Any],
        overwrite: bool = False,
        key: Callable[[Mapping[str, Any]], Hashable] = record_key,
    ) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.done: set[Hashable] = set()
        if self.path.exists() and not overwrite:
            self._load_existing(model_id, setting_of(metadata))
        else:
            self.path.write_text("")
        if self.done:
            print(f"[resume] {self.path}: {len(self.done)} question(s) already answered; continuing", file=sys.stderr)
        self._file = self.path.open("a", encoding="utf-8")

    def _load_existing(self, model_id: str, setting: dict) -> None:
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            complete, _, partial = text.rpartition("\n")
            try:
                json.loads(partial)
            except json.JSONDecodeError:
                print(f"[resume] {self.path}: dropping a last line cut short by an interruption", file=sys.stderr)
                self.path.write_text(complete + "\n" if complete else "", encoding="utf-8")
            else:
                self.path.write_text(text + "\n", encoding="utf-8")
        for number, record in _iter_jsonl(self.path):
            if record.get("model_id") != model_id or setting_of(record.get("metadata")) != setting:
                raise AnswersFileError(
                    f"{self.path}:{number} was written by {record.get('model_id')!r} under "
                    f"{setting_of(record.get('metadata'))}, not by {model_id!r} under {setting}. Fix: pass "
                    "--overwrite to start this file over, or write to another --answers-file."
                )
            identity = self.key(record)
            if identity in self.done:
                raise AnswersFileError(f"{self.path}:{number} answers {identity!r} a second time; remove the duplicate")
            self.done.add(identity)

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.done.add(self.key(record))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResumableAnswers":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
