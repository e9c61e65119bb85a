"""LLaVA-1.5 training (`deepspeed llava/train/train.py ...`), with DUET-VLM compression in the training path.

Flags are LLaVA's (`llava.train.arguments`), so LLaVA's `scripts/v1_5/*.sh` run unchanged on transformers 5,
plus DUET's (`--duet_preset` or `--dominant_num --context_num --layer_list --image_token_ratio_list`,
`--t2v_query`, `--t2v_position_ids`), `--attn_implementation` and `--on_bad_data`.

What a run does, in order:
1. parse the flags; under `--deepspeed`, bring up the process group (gloo on CPU, nccl on GPUs) before any
   model exists, which ZeRO-3's partitioned construction requires;
2. resolve `--model_name_or_path` / `--vision_tower` / `--pretrain_mm_mlp_adapter` (folders or Hub ids, through the
   Hugging Face cache), read the LLM's and the tower's configs (no weights) and validate the DUET setting;
3. check every data entry (`llava.train.entry_checks`): a malformed file stops the run naming file, line and column;
   under `--on_bad_data truncate` (default) entries longer than `model_max_length` are listed and cut there as LLaVA
   cuts them, and any other problem is printed with its entry id and the run exits non-zero before a model is
   built; `refuse` stops on every problem, `skip` drops every bad entry (`llava.train.data_setup`);
4. build the model (`llava.train.model_setup`), the dataset, and `LLaVATrainer`;
5. train, resuming from `--resume_from_checkpoint` or else from the newest `output_dir/checkpoint-*`;
6. save: `mm_projector.bin` + `config.json` for pretraining (`--tune_mm_mlp_adapter`), the adapter +
   `non_lora_trainables.bin` + `config.json` for `--lora_enable`, the full model + tokenizer otherwise; all
   three load with `llava.model.builder.load_pretrained_model`;
7. wait for every rank and destroy the process group.

DUET during training. V2V compresses each image to N0 = dominant + contextual tokens before the projector; T2V drops
visual tokens after each stage layer and prunes the labels with them. T2V's queries (`--t2v_query`) are
`salient` (the salient words of each human turn, marked by the dataset), `instruction` (all non-answer text after
the image, the authors' released training setting) or `last`. Which salient-word finder ran (`pos`: a spaCy POS
model, as the authors; `spacy-rules` / `builtin-rules`: fallbacks without one) changes the query set, so it is
logged, must agree across ranks, and is saved as `duet_salient_path` in the run's `config.json`.

The `plain` pretraining template has no instruction text: the human turn is replaced by the image and everything
after it is the caption, i.e. a target. Every query set is then empty, and the model falls back, per sample, to its last prompt position: the position just before
the first caption token, which in `plain` is the image's last visual token. Scores are therefore an average over
one query rather than over none (the authors' code divides by zero there and ranks NaNs).
"""

import logging
import sys
from collections.abc import Sequence

from transformers import set_seed

from llava.train.arguments import parse_arguments
from llava.train.collator import DataCollatorForSupervisedDataset
from llava.train.data_setup import BadDataError, checked_indices
from llava.train.dataset import LazySupervisedDataset
from llava.train.duet_flags import duet_config_from_args
from llava.train.entry_checks import CheckSettings
from llava.train.model_setup import (
    build_model,
    load_tokenizer,
    read_geometry,
    refuse_unsupported,
    resolve_model_sources,
    visual_tokens_per_image,
)
from llava.train.records import DataFileError, load_records, template_for_version
from llava.train.runtime import configure_logging, configure_wandb, init_distributed_for_deepspeed, teardown_distributed
from llava.train.session import fit_and_save, record_salient_path, salient_finder
from llava.train.trainer import LLaVATrainer

logger = logging.getLogger("llava.train")


def train(argv: Sequence[str] | None = None) -> LLaVATrainer:
    """Run one training job from command-line flags (`argv`, default `sys.argv[1:]`); returns the trainer."""
    model_args, data_args, training_args, duet_args = parse_arguments(argv)
    configure_logging(training_args)
    refuse_unsupported(model_args, data_args, training_args)
    template = template_for_version(model_args.version)
    duet_config = duet_config_from_args(duet_args)
    if data_args.data_path is None:
        raise ValueError("--data_path is required (LLaVA's JSON list of id / image / conversations).")
    configure_wandb(training_args)
    init_distributed_for_deepspeed(training_args)

    model_args = resolve_model_sources(model_args, training_args)
    geometry = read_geometry(model_args, training_args.cache_dir)
    if duet_config is not None:
        duet_config.validate_for(geometry.num_layers, geometry.num_patches)
        logger.info("DUET in training: %s", duet_config)
    tokenizer = load_tokenizer(model_args, training_args)
    image_tokens = visual_tokens_per_image(geometry, duet_config)
    settings = CheckSettings(
        tokenizer=tokenizer,
        template=template,
        image_folder=data_args.image_folder,
        image_tokens=image_tokens,
        model_max_length=training_args.model_max_length,
    )
    try:
        records = load_records(data_args.data_path)
        indices = checked_indices(records, settings, data_args.on_bad_data, training_args.process_index == 0)
    except (BadDataError, DataFileError) as error:
        logger.error("Data check failed: %s", error)
        teardown_distributed()
        raise SystemExit(1) from error

    finder = salient_finder(duet_config)
    set_seed(training_args.seed)  # the new projector's initialisation is part of the run's reproducibility
    model = build_model(model_args, data_args, training_args, duet_config)
    record_salient_path(model, finder)
    dataset = LazySupervisedDataset(
        records,
        tokenizer,
        template,
        image_processor=model.get_vision_tower().image_processor,
        image_folder=data_args.image_folder,
        image_aspect_ratio=data_args.image_aspect_ratio,
        query_spans_fn=finder.spans if finder is not None else None,
        indices=indices,
        max_positions=training_args.model_max_length,
        image_tokens=image_tokens,
    )
    collator = DataCollatorForSupervisedDataset(pad_token_id=tokenizer.pad_token_id)
    return fit_and_save(model, dataset, collator, tokenizer, training_args, model_args.tune_mm_mlp_adapter)

if __name__ == "__main__":
    train(sys.argv[1:])
