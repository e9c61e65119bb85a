"""The startup data check of `train.py` (and of `check_data`): every rank checks a shard, all ranks apply one policy.

Checking LLaVA's 665K mix tokenizes every conversation and opens every image header, which takes minutes on one
process; split over the ranks of a multi-GPU job it takes seconds per rank. All ranks then agree on the same kept
entries, or all stop together, before any of them builds the model.

The policy is `--on_bad_data` (`llava.train.entry_checks.BAD_DATA_POLICIES`):
- `truncate` (default): entries longer than `model_max_length` are trained on cut at that length, as LLaVA does; they
  are listed by id with their count. Any other problem (a missing image, a malformed entry, an over-long entry that
  no cut can fix) stops the run: those would crash LLaVA mid-run or train on nothing.
- `refuse`: any problem stops the run.
- `skip`: every bad entry is dropped and counted.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch

from llava.train.entry_checks import CheckSettings, DataProblem, DataReport, check_records
from llava.train.runtime import is_distributed

CheckFn = Callable[..., list[DataProblem]]
"""Checks a shard of the records: `check_records`, or Video-LLaVA's `check_video_records`."""


class BadDataError(RuntimeError):
    """The data check found problems the policy does not allow (they were printed)."""


def _all_problems(records: Sequence[Any], settings: CheckSettings, check: CheckFn) -> list[DataProblem]:
    if not is_distributed():
        return check(records, settings)
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    mine = check(records, settings, range(rank, len(records), world))
    shards: list[list[DataProblem] | None] = [None] * world
    torch.distributed.all_gather_object(shards, mine)
    return sorted((p for shard in shards for p in shard or []), key=lambda p: p.index)


def blocking_problems(report: DataReport, policy: str) -> list[DataProblem]:
    """The problems that stop a run under `policy` (none under `skip`; the untruncatable ones under `truncate`)."""
    if policy == "skip":
        return []
    if policy == "truncate":
        return [problem for problem in report.problems if not problem.truncatable]
    return list(report.problems)


def report_problems(report: DataReport, policy: str, write: Callable[[str], None] = print) -> list[int]:
    """Print every problem and a summary; return the entries to train on, or raise `BadDataError`."""
    for problem in report.problems:
        write(str(problem))
    if not report.problems:
        write(f"data check: all {report.total} entries are valid")
        return list(range(report.total))
    blocking = blocking_problems(report, policy)
    if blocking:
        blocking_ids = {problem.index for problem in blocking}
        write(
            f"data check: {report.summary()}; {len(blocking_ids)} of them stop the run under --on_bad_data {policy}. "
            "Fix the entries above, or pass --on_bad_data skip to drop every bad entry."
        )
        raise BadDataError(report.summary())
    if policy == "skip":
        kept = report.good_indices()
        write(f"data check: {report.summary()}; skipping them, {len(kept)} entries remain (--on_bad_data skip)")
    else:
        kept = list(range(report.total))
        write(
            f"data check: {len(report.problems)} of {report.total} entries are longer than model_max_length and are "
            "trained on cut at that length (--on_bad_data truncate, LLaVA's behaviour); their ids are listed above"
        )
    if not kept:
        raise BadDataError(f"No valid entries left to train on ({report.summary()}).")
    return kept


def checked_indices(
    records: Sequence[Any],
    settings: CheckSettings,
    policy: str,
    is_main_process: bool,
    write: Callable[[str], None] = print,
    check: CheckFn = check_records,
) -> list[int]:
    """Indices of the entries to train on (over-long ones included under `truncate`); raises `BadDataError`."""
    report = DataReport(total=len(records), problems=_all_problems(records, settings, check))
    return report_problems(report, policy, write if is_main_process else lambda _: None)
