"""Full CPU copies of parameters that ZeRO-3 may have partitioned across ranks (LLaVA's `maybe_zero_3`).

Under ZeRO-3 a rank holds only a shard of each parameter (`param.ds_id` is set and `param.data` is empty), so
saving the projector or the LoRA weights must gather them first. `GatheredParameters` is a collective: every rank
has to call these helpers, even the ranks that will not write the file.
"""

from collections.abc import Callable, Iterable

import torch


def full_cpu_copy(param: torch.Tensor) -> torch.Tensor:
    """A detached CPU copy of the whole parameter, gathering it first when ZeRO-3 partitioned it."""
    if hasattr(param, "ds_id"):
        from deepspeed import zero

        with zero.GatheredParameters([param]):
            return param.data.detach().cpu().clone()
    return param.detach().cpu().clone()


def gathered_state(
    named_params: Iterable[tuple[str, torch.Tensor]], keep: Callable[[str, torch.Tensor], bool]
) -> dict[str, torch.Tensor]:
    """`{name: full CPU copy}` of the parameters `keep` selects, in iteration order."""
    return {name: full_cpu_copy(param) for name, param in named_params if keep(name, param)}
