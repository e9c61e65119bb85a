"""The startup data check of `train.py`: every rank checks a shard, all ranks see the whole report.

Checking LLaVA's 665K mix tokenizes every conversation and opens every image header, which takes minutes on one
process; split over the ranks of a multi-GPU job it takes seconds per rank. All ranks then agree on the same kept
entries (skip) or all stop together (refuse), before any of them builds the model.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch

from llava.train.check_data import report_problems
from llava.train.data_check import CheckSettings, DataProblem, DataReport, check_records
from llava.train.runtime import is_distributed

CheckFn = Callable[..., list[DataProblem]]


class BadDataError(RuntimeError):
    """The data check found problems and `--on_bad_data refuse` was given (the problems were printed)."""


def _all_problems(records: Sequence[Any], settings: CheckSettings, check: CheckFn) -> list[DataProblem]:
    if not is_distributed():
        return check(records, settings)
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    mine = check(records, settings, range(rank, len(records), world))
    shards: list[list[DataProblem] | None] = [None] * world
    torch.distributed.all_gather_object(shards, mine)
    return sorted((p for shard in shards for p in shard or []), key=lambda p: p.index)


def checked_indices(
    records: Sequence[Any],
    settings: CheckSettings,
    on_bad_data: str,
    is_main_process: bool,
    write: Callable[[str], None] = print,
    check: CheckFn = check_records,
) -> list[int]:
    """Indices of the entries to train on; raises `BadDataError` under `refuse` when any entry is bad.

    `check` checks a shard of the records (`check_records`; Video-LLaVA's data uses `check_video_records`).
    """
    report = DataReport(total=len(records), problems=_all_problems(records, settings, check))
    may_continue = report_problems(report, on_bad_data, write if is_main_process else lambda _: None)
    if not may_continue:
        raise BadDataError(report.summary())
    kept = report.good_indices()
    if not kept:
        raise BadDataError(f"No valid entries left to train on ({report.summary()}).")
    return kept
