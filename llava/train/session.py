"""The part of a training job every entry point shares: salient-query provenance, resume, fit, save.

`llava/train/train.py` (LLaVA-1.5) and `llava/train/train_video.py` (Video-LLaVA) differ in their flags, model and
data; from the moment the model and the dataset exist, the run is this module's, so both record the same salient-word
path, resume the same way and save the same checkpoint kinds.
"""

import logging
import os

import torch
from torch.utils.data import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.trainer_utils import get_last_checkpoint

from duet.config import DuetConfig
from duet.salient import SalientWordFinder
from llava.train.arguments import TrainingArguments
from llava.train.runtime import is_distributed, teardown_distributed
from llava.train.trainer import LLaVATrainer

logger = logging.getLogger("llava.train")


def salient_finder(duet_config: DuetConfig | None) -> SalientWordFinder | None:
    """The finder of T2V's salient query words, when the run's queries are salient; None otherwise."""
    salient = duet_config is not None and duet_config.t2v_enabled and duet_config.query == "salient"
    return SalientWordFinder() if salient else None


def resume_point(training_args: TrainingArguments) -> str | None:
    """`--resume_from_checkpoint`, else the newest `checkpoint-*` in `output_dir` (LLaVA resumes automatically)."""
    if training_args.resume_from_checkpoint:
        if not os.path.isdir(training_args.resume_from_checkpoint):
            raise FileNotFoundError(f"--resume_from_checkpoint {training_args.resume_from_checkpoint} is not a folder.")
        return training_args.resume_from_checkpoint
    if os.path.isdir(training_args.output_dir):
        last = get_last_checkpoint(training_args.output_dir)
        if last is not None:
            logger.info("Resuming from %s.", last)
            return last
    return None


def agreed_salient_path(finder: SalientWordFinder) -> str:
    """The salient-word path this run's T2V queries come from, the same on every rank, logged.

    A node without the spaCy POS model would silently train on a different query set than the others.
    """
    path = finder.path
    if is_distributed():
        paths: list[str | None] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(paths, path)
        if len(set(paths)) > 1:
            ranks = ", ".join(f"rank {rank}: {name}" for rank, name in enumerate(paths))
            raise RuntimeError(
                f"The ranks find salient query words with different methods ({ranks}), so they would train on "
                "different T2V query sets. Fix: install the same spaCy POS model on every node "
                "(`python -m spacy download en_core_web_sm`), or train with --t2v_query instruction."
            )
    logger.info(
        "T2V training queries: the salient words of each human turn, found by the %r path (%s)",
        path,
        "spaCy POS model, as the paper" if path == "pos" else "a rule-based fallback: no spaCy POS model is installed",
    )
    return path


def record_salient_path(model: PreTrainedModel, finder: SalientWordFinder | None) -> None:
    """Save which salient-word path the run's queries came from in its `config.json` (`duet_salient_path`)."""
    model.config.duet_salient_path = agreed_salient_path(finder) if finder is not None else None


def fit_and_save(
    model: PreTrainedModel,
    dataset: Dataset,
    collator,
    tokenizer: PreTrainedTokenizerBase,
    training_args: TrainingArguments,
    tune_mm_mlp_adapter: bool,
) -> LLaVATrainer:
    """Train with `LLaVATrainer` (resuming from the newest checkpoint), save, and take the process group down."""
    trainer = LLaVATrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        tune_mm_mlp_adapter=tune_mm_mlp_adapter,
    )
    trainer.train(resume_from_checkpoint=resume_point(training_args))
    trainer.save_state()
    model.config.use_cache = True
    trainer.save_model(training_args.output_dir)
    teardown_distributed()
    return trainer
