"""Run records: one JSON file per (run, benchmark) holding the score and everything needed to place it in a table.

Every scorer takes `--run-record PATH [--run-name NAME]` and writes

    {"record": "duet-eval-run", "version": 1,
     "run": "llava-v1.5-7b/llava-1.5-64",          # the table row: <model>/<preset>, unless --run-name says otherwise
     "model": "llava-v1.5-7b", "preset": "llava-1.5:64",   # preset: the --duet-preset name (None: flags/checkpoint)
     "benchmark": "pope", "score": 85.9,            # the number the paper's table shows for this benchmark
     "metrics": {...},                              # every number the scorer printed
     "setting": {"duet": {...}, "query_path": "pos", "temporal_attention": null},
     "tokens": {"layer_averaged": 63.75, "llm_input": 102},
     "samples": 8910, "answers_file": "..."}

`python -m llava.eval.summarize` reads any number of these and builds the paper's table and plot. The format does
not depend on the host: the video evaluation writes the same records (benchmarks "msvd", "msrvtt", "tgif",
"activitynet"; `score` = judge accuracy, `metrics["score"]` = mean 0-5 judge score; tokens over all frames; preset
`video-llava:960`), so its rows join the same table. `write_run_record` is the one writer; `load_run_records` the one
reader.
"""

import argparse
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llava.eval.answer_records import AnswersFileError, setting_of

RECORD_KIND = "duet-eval-run"
RECORD_VERSION = 1
DEFAULT_PRESET_LABEL = "default"


@dataclass(frozen=True)
class RunRecord:
    """One benchmark score of one run (model + DUET setting)."""

    run: str
    model: str
    preset: str | None
    benchmark: str
    score: float
    metrics: dict[str, Any] = field(default_factory=dict)
    setting: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    samples: int | None = None
    answers_file: str | None = None

    def to_json(self) -> dict:
        return {"record": RECORD_KIND, "version": RECORD_VERSION, **asdict(self)}


def run_label(model: str, preset: str | None) -> str:
    """`<model>/<preset>` with ":" made path-safe ("llava-1.5:64" → "llava-1.5-64"); the scripts name folders so."""
    return f"{model}/{(preset or DEFAULT_PRESET_LABEL).replace(':', '-')}"


def add_run_record_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run record (for python -m llava.eval.summarize)")
    group.add_argument("--run-record", default=None, help="also write the score as a run record (JSON) to this path")
    group.add_argument("--run-name", default=None, help="table row of the record (default: <model>/<preset>)")


def provenance(records: Sequence[Mapping[str, Any]], source: str | Path) -> tuple[str, dict, dict, str | None]:
    """(model_id, setting, tokens, preset) shared by every answer record; mixed settings are an error."""
    if not records:
        raise AnswersFileError(f"{source} has no answers")
    first = records[0]
    model, setting = first.get("model_id"), setting_of(first.get("metadata"))
    for number, record in enumerate(records, start=1):
        if record.get("model_id") != model or setting_of(record.get("metadata")) != setting:
            raise AnswersFileError(
                f"{source}: answer {number} was produced by {record.get('model_id')!r} under "
                f"{setting_of(record.get('metadata'))}, answer 1 by {model!r} under {setting}; one score cannot "
                "describe both. Fix: regenerate the mixed chunks under one setting."
            )
    metadata = first.get("metadata") or {}
    preset = setting.pop("duet_preset")
    return str(model), setting, dict(metadata.get("visual_tokens") or {}), preset


def record_from_answers(
    args: argparse.Namespace,
    benchmark: str,
    score: float,
    metrics: Mapping[str, Any],
    answers: Sequence[Mapping[str, Any]],
    answers_file: str | Path,
) -> RunRecord | None:
    """Write the run record when `--run-record` was given; the setting comes from the answers' metadata."""
    if getattr(args, "run_record", None) is None:
        return None
    model, setting, tokens, preset = provenance(answers, answers_file)
    record = RunRecord(
        run=args.run_name or run_label(model, preset),
        model=model,
        preset=preset,
        benchmark=benchmark,
        score=float(score),
        metrics=dict(metrics),
        setting=setting,
        tokens=tokens,
        samples=len(answers),
        answers_file=os.fspath(answers_file),
    )
    write_run_record(args.run_record, record)
    return record


def write_run_record(path: str | Path, record: RunRecord) -> Path:
    """Write atomically (a reader never sees half a record)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record.to_json(), indent=2) + "\n")
    temporary.replace(path)
    return path


def parse_run_record(data: Mapping[str, Any], source: str | Path) -> RunRecord:
    if data.get("record") != RECORD_KIND:
        raise ValueError(f'{source} is not a run record (no "record": "{RECORD_KIND}")')
    if data.get("version") != RECORD_VERSION:
        raise ValueError(f"{source}: run record version {data.get('version')!r}; this code reads {RECORD_VERSION}")
    fields = {k: v for k, v in data.items() if k not in ("record", "version")}
    missing = [k for k in ("run", "model", "benchmark", "score") if k not in fields]
    if missing:
        raise ValueError(f"{source}: run record lacks {missing}")
    try:
        return RunRecord(**fields)
    except TypeError as error:
        raise ValueError(f"{source}: {error}") from None


def load_run_records(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Records from files and folders (searched recursively for JSON files that are run records)."""
    records: list[RunRecord] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            for candidate in sorted(path.rglob("*.json")):
                data = json.loads(candidate.read_text())
                if isinstance(data, dict) and data.get("record") == RECORD_KIND:
                    records.append(parse_run_record(data, candidate))
        elif path.is_file():
            records.append(parse_run_record(json.loads(path.read_text()), path))
        else:
            raise FileNotFoundError(f"{path} does not exist (give run record files or folders holding them)")
    return records
