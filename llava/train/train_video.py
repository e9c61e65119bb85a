"""Video-LLaVA training with DUET (`deepspeed llava/train/train_video.py ...`): Video-LLaVA's flags and data.

Video-LLaVA's `scripts/v1_5/{pretrain,finetune,finetune_lora}.sh` flags work unchanged (`--image_tower`,
`--video_tower`, `--video_folder`, several `--data_path` files, `--tokenizer_model_max_length`), plus LLaVA's and
DUET's (`llava.train.arguments`). The job is `llava.train.train`'s, step for step — flags, distributed setup, the
up-front data check, model, dataset, `LLaVATrainer`, resume, save — with the video parts swapped in:
`llava.train.video_model_setup` (two LanguageBind towers, temporal attention), `llava.train.video_data` (video
entries: 8 uniformly sampled frames, one `<image>` placeholder per frame) and the data check counting a video as
`num_frames` x the tokens one frame puts into the LLM (257 with CLS, or dominant + contextual under DUET's V2V).

DUET during training: V2V compresses every image and every frame before the projector (each frame ranked by its own
CLS row); T2V ranks the visual tokens of a sample jointly — all frames of a video together — and keeps int(N0·r).
The saved checkpoint is the original layout (both towers inside) and loads with `load_pretrained_model`.
"""

import logging
import sys
from collections.abc import Sequence

from transformers import set_seed

from llava.model.multimodal_encoder.languagebind import languagebind_vision_config
from llava.train.data_setup import BadDataError, checked_indices
from llava.train.duet_flags import duet_config_from_args
from llava.train.model_setup import load_tokenizer, refuse_unsupported
from llava.train.records import DataFileError, load_records, template_for_version
from llava.train.runtime import configure_logging, configure_wandb, init_distributed_for_deepspeed, teardown_distributed
from llava.train.session import fit_and_save, record_salient_path, salient_finder
from llava.train.trainer import LLaVATrainer
from llava.train.video_arguments import parse_video_arguments
from llava.train.video_data import VideoCheckSettings, VideoDataCollator, VideoSupervisedDataset, check_video_records
from llava.train.video_model_setup import build_video_model, video_config
from llava.video.processing import LanguageBindVideoProcessor, languagebind_image_processor

logger = logging.getLogger("llava.train")


def tokens_per_frame(config, duet_config) -> tuple[int, int]:
    """(LLM positions per image, per video frame): V2V's N0 when on, else 256 and 257 (frames keep CLS)."""
    vision = languagebind_vision_config(config.mm_video_tower_config or config.mm_image_tower_config)
    patches = (vision.image_size // vision.patch_size) ** 2
    if duet_config is not None and duet_config.v2v_enabled:
        per = duet_config.dominant + duet_config.contextual
        return per, per
    return patches, patches + 1


def train(argv: Sequence[str] | None = None) -> LLaVATrainer:
    """Run one Video-LLaVA training job from command-line flags; returns the trainer."""
    model_args, data_args, training_args, duet_args = parse_video_arguments(argv)
    configure_logging(training_args)
    refuse_unsupported(model_args, data_args, training_args)
    template = template_for_version(model_args.version)
    duet_config = duet_config_from_args(duet_args)
    if not data_args.data_path:
        raise ValueError("--data_path is required (one or more JSON lists of image, video and text entries).")
    configure_wandb(training_args)
    init_distributed_for_deepspeed(training_args)

    config = video_config(model_args, training_args)
    if config.mm_video_tower_config is not None:
        frames = languagebind_vision_config(config.mm_video_tower_config).num_frames
        if frames != data_args.num_frames:
            raise ValueError(
                f"--num_frames {data_args.num_frames}, but the video tower takes {frames} frames per video."
            )
    if duet_config is not None:
        patches = tokens_per_frame(config, None)[0]
        duet_config.validate_for(config.num_hidden_layers, patches)
        logger.info("DUET in training: %s", duet_config)
    tokenizer = load_tokenizer(model_args, training_args)
    per_image, per_frame = tokens_per_frame(config, duet_config)
    settings = VideoCheckSettings(
        tokenizer=tokenizer,
        template=template,
        image_folder=data_args.image_folder,
        image_tokens=per_image,
        model_max_length=training_args.context_length,
        video_folder=data_args.video_folder,
        num_frames=data_args.num_frames,
        tokens_per_frame=per_frame,
    )
    try:
        records = [record for path in data_args.data_path for record in load_records(path)]
        indices = checked_indices(
            records, settings, data_args.on_bad_data, training_args.process_index == 0, check=check_video_records
        )
    except (BadDataError, DataFileError) as error:
        logger.error("Data check failed: %s", error)
        teardown_distributed()
        raise SystemExit(1) from error

    finder = salient_finder(duet_config)
    set_seed(training_args.seed)
    model = build_video_model(model_args, data_args, training_args, duet_config)
    record_salient_path(model, finder)
    image_size = languagebind_vision_config(config.mm_image_tower_config or config.mm_video_tower_config).image_size
    dataset = VideoSupervisedDataset(
        records,
        tokenizer,
        template,
        image_processor=languagebind_image_processor(image_size),
        image_folder=data_args.image_folder,
        image_aspect_ratio=data_args.image_aspect_ratio,
        video_processor=LanguageBindVideoProcessor(
            num_frames=data_args.num_frames, image_size=image_size, backend=data_args.video_backend
        ),
        video_folder=data_args.video_folder,
        query_spans_fn=finder.spans if finder is not None else None,
        indices=indices,
    )
    collator = VideoDataCollator(pad_token_id=tokenizer.pad_token_id)
    return fit_and_save(model, dataset, collator, tokenizer, training_args, model_args.tune_mm_mlp_adapter)

if __name__ == "__main__":
    train(sys.argv[1:])
