"""`LLaVATrainer`: transformers 5's `Trainer` with LLaVA's four additions.

1. `group_by_modality_length`: batches of only-image or only-text samples (`LengthGroupedSampler`).
2. `mm_projector_lr`: the projector in its own parameter groups with its own learning rate (LoRA finetuning).
3. Projector-only checkpoints for pretraining (`tune_mm_mlp_adapter`): `checkpoint-N/` and the final folder hold
   `mm_projector.bin` (keys `model.mm_projector.*`) and `config.json`, never the frozen LLM. Intermediate
   checkpoints also keep the optimizer, scheduler, RNG and trainer state, so such a run resumes exactly.
4. LoRA checkpoints hold the adapter plus `non_lora_trainables.bin` (the projector) and `config.json`, LLaVA's
   layout, at every save, so they both load with `load_pretrained_model(model_base=...)` and resume.

Everything is written from the process that `should_save` (global rank 0), never by `local_rank` checks, which
transformers 5 leaves at −1 under torchrun. Gathering ZeRO-3 shards is collective and runs on every rank.
"""

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler
from transformers import Trainer
from transformers.trainer_utils import has_length

from llava.model.state_dict_io import load_weight_file
from llava.train.lora import non_lora_trainable_state
from llava.train.sampler import LengthGroupedSampler
from llava.train.zero import gathered_state

PROJECTOR_FILE = "mm_projector.bin"
NON_LORA_FILE = "non_lora_trainables.bin"
PROJECTOR_KEY = "mm_projector"


class LLaVATrainer(Trainer):
    """The Trainer LLaVA's `train.py` builds; `args` is `llava.train.arguments.TrainingArguments`.

    `tune_mm_mlp_adapter` is a model flag in LLaVA (`--tune_mm_mlp_adapter`, pretraining) that decides what a
    checkpoint holds, so it is given here explicitly instead of being patched onto `args` as LLaVA does.
    """

    def __init__(self, *args, tune_mm_mlp_adapter: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tune_mm_mlp_adapter = tune_mm_mlp_adapter

    # ------------------------------------------------------------------ sampling
    def _get_train_sampler(self, train_dataset: Dataset | None = None) -> Sampler | None:
        """LLaVA's grouping for `--group_by_modality_length`, and for `--train_sampling_strategy group_by_length`
        (LLaVA's `--group_by_length`) from the dataset's word-count `lengths` instead of tokenizing every sample."""
        dataset = self.train_dataset if train_dataset is None else train_dataset
        by_length = self.args.train_sampling_strategy == "group_by_length" and hasattr(dataset, "lengths")
        if not (self.args.group_by_modality_length or by_length) or dataset is None or not has_length(dataset):
            return super()._get_train_sampler(train_dataset)
        if self.args.group_by_modality_length and not hasattr(dataset, "modality_lengths"):
            raise TypeError(
                f"--group_by_modality_length needs a dataset with `modality_lengths`; {type(dataset).__name__} has none."
            )
        modality = self.args.group_by_modality_length
        return LengthGroupedSampler(
            dataset.modality_lengths if modality else dataset.lengths,
            batch_size=self.args.train_batch_size,
            world_size=self.args.world_size * self.args.gradient_accumulation_steps,
            seed=self.args.seed,
            group_by_modality=modality,
        )

    # ------------------------------------------------------------------ optimizer
    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """LLaVA's projector learning rate: four groups (decay × projector); stock behaviour without `mm_projector_lr`."""
        if self.optimizer is not None or self.args.mm_projector_lr is None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        named = [(n, p) for n, p in opt_model.named_parameters() if p.requires_grad]
        groups = []
        for is_projector in (False, True):
            for decays in (True, False):
                params = [p for n, p in named if (PROJECTOR_KEY in n) == is_projector and (n in decay) == decays]
                group = {"params": params, "weight_decay": self.args.weight_decay if decays else 0.0}
                if is_projector:
                    group["lr"] = self.args.mm_projector_lr
                if params:
                    groups.append(group)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    # ------------------------------------------------------------------ saving
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Projector-only for pretraining, adapter + `non_lora_trainables.bin` for LoRA, the full model otherwise."""
        output_dir = self.args.output_dir if output_dir is None else output_dir
        if self.tune_mm_mlp_adapter:
            self._save_projector(output_dir)
            return
        super().save_model(output_dir, _internal_call=_internal_call)
        if self.args.lora_enable:
            self._save_non_lora_trainables(output_dir)

    def _save_projector(self, output_dir: str) -> None:
        weights = gathered_state(self.model.named_parameters(), lambda name, _: PROJECTOR_KEY in name)
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            self.model.config.save_pretrained(output_dir)
            torch.save(weights, os.path.join(output_dir, PROJECTOR_FILE))

    def _save_non_lora_trainables(self, output_dir: str) -> None:
        weights = non_lora_trainable_state(self.model)
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            self.model.config.save_pretrained(output_dir)
            torch.save(weights, os.path.join(output_dir, NON_LORA_FILE))

    # ------------------------------------------------------------------ resuming (without DeepSpeed)
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        """Load what `save_model` wrote; DeepSpeed runs resume from their own engine checkpoint instead."""
        model = self.model if model is None else model
        folder = Path(resume_from_checkpoint)
        if self.tune_mm_mlp_adapter:
            self._load_partial(model, folder / PROJECTOR_FILE)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        if self.args.lora_enable:
            self._load_partial(model, folder / NON_LORA_FILE)

    @staticmethod
    def _load_partial(model: torch.nn.Module, path: Path) -> None:
        """Load a file that holds some of `model`'s parameters under their full names; any foreign key is an error."""
        if not path.is_file():
            raise FileNotFoundError(f"Cannot resume: {path} is missing from the checkpoint folder.")
        result = model.load_state_dict(load_weight_file(path), strict=False)
        if result.unexpected_keys:
            raise ValueError(f"Cannot resume: {path} holds keys this model does not have: {result.unexpected_keys[:5]}")
