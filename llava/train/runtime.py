"""Process-level setup around a training run: logging, experiment tracking, the distributed process group.

Three things that LLaVA left implicit and that fail in confusing ways when wrong:
- ZeRO-3 builds the model partitioned (`zero.Init` inside `from_pretrained`), which needs `deepspeed.comm` up
  *before* the model exists; otherwise DeepSpeed's batch-size check fails with an unrelated-looking assertion.
- A process group left alive at exit can abort the interpreter after a successful run; it is torn down explicitly.
- `--report_to wandb` without credentials either fails or hangs on the network; it logs offline instead.
"""

import logging
import os
import warnings

import torch

from llava.train.arguments import TrainingArguments

logger = logging.getLogger("llava.train")


def configure_logging(training_args: TrainingArguments) -> None:
    """This package logs at INFO on global rank 0 and WARNING elsewhere (LLaVA's `rank0_print`, by process index).

    transformers' own verbosity stays with `--log_level` / `--log_level_replica`, which the Trainer applies.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    level = logging.INFO if training_args.process_index == 0 else logging.WARNING
    logging.getLogger("llava").setLevel(level)


def configure_wandb(training_args: TrainingArguments) -> str | None:
    """Pick W&B's mode for `--report_to wandb` and log it: the user's WANDB_MODE, online with a key, else offline."""
    if "wandb" not in (training_args.report_to or []):
        return None
    if os.environ.get("WANDB_MODE"):
        mode = os.environ["WANDB_MODE"]
        logger.info("W&B mode %s (from WANDB_MODE).", mode)
    elif os.environ.get("WANDB_API_KEY"):
        mode = "online"
        logger.info("W&B logging online (WANDB_API_KEY is set).")
    else:
        mode = os.environ["WANDB_MODE"] = "offline"
        logger.info("W&B logging offline: WANDB_API_KEY is not set. Upload later with `wandb sync <run dir>`.")
    return mode


def init_distributed_for_deepspeed(training_args: TrainingArguments) -> None:
    """Bring up `deepspeed.comm` before the model is built (needed by ZeRO-3's partitioned construction)."""
    if not training_args.deepspeed:
        return
    import deepspeed

    # DeepSpeed's collectives call torch.distributed functions that torch 2.13 renamed; the FutureWarning on every
    # rank and step is DeepSpeed's to fix, not the user's.
    warnings.filterwarnings(
        "ignore",
        message=r"`torch\.distributed\.(all_gather_into_tensor|reduce_scatter_tensor)` is deprecated",
        category=FutureWarning,
    )
    _ = training_args.device  # accelerate initialises torch.distributed first
    backend = "nccl" if torch.cuda.is_available() and not training_args.use_cpu else "gloo"
    deepspeed.init_distributed(dist_backend=backend)


def is_distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def teardown_distributed() -> None:
    """Wait for every rank, then destroy the process group, so no rank exits while others still save."""
    if is_distributed():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
