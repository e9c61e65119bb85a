"""Build the Video-LLaVA model a training run trains, in Video-LLaVA's order, from the parsed flags.

From a language model (`--model_name_or_path lmsys/vicuna-7b-v1.5 --image_tower ... --video_tower ...`): the LLM's
weights into `VideoLlavaLlamaForCausalLM`, both LanguageBind towers from their repositories (the `vision_model.*`
weights of `LanguageBind_Image` / `LanguageBind_Video_merge`, temporal attention included; frozen), a fresh
`mlp2x_gelu` projector or the pretraining one (`--pretrain_mm_mlp_adapter`). From a Video-LLaVA checkpoint
(continued finetuning): everything from that checkpoint. Then, as for LLaVA: which parameters train, the fields
`config.json` records, DUET, LoRA (never on the towers or the projector).

Under ZeRO-3 the towers are partitioned when the model is built; their weights are loaded inside
`GatheredParameters` (rank 0 writes, every rank takes part).
"""

from __future__ import annotations

import logging
from pathlib import Path

from peft import PeftModel
from transformers import LlamaConfig

import duet as duet_lib
from duet.config import DuetConfig
from llava.model.configuration_video_llava import VideoLlavaLlamaConfig
from llava.model.language_model.video_llava_llama import VideoLlavaLlamaForCausalLM
from llava.model.multimodal_encoder.languagebind import languagebind_vision_config
from llava.model.state_dict_io import load_weight_file, strip_prefix
from llava.model.video_llava_loading import (
    VideoLlavaLayout,
    check_loading_info,
    checkpoint_folder,
    load_tower_weights,
    original_config,
    tower_vision_config,
    video_llava_layout,
)
from llava.train.lora import add_lora
from llava.train.model_setup import compute_dtype
from llava.train.video_arguments import VideoDataArguments, VideoModelArguments, VideoTrainingArguments

logger = logging.getLogger(__name__)


def video_config(model_args: VideoModelArguments, training_args: VideoTrainingArguments) -> VideoLlavaLlamaConfig:
    """The Video-LLaVA config of the run (no weights read): the checkpoint's, or the LLM's plus both towers'."""
    path = model_args.model_name_or_path
    if video_llava_layout(path) is VideoLlavaLayout.ORIGINAL:
        return original_config(
            checkpoint_folder(path), model_args.temporal_attention, model_args.image_tower, model_args.video_tower
        )
    if not (model_args.image_tower or model_args.video_tower):
        raise ValueError(
            f"{path} is a language model: pass --image_tower LanguageBind/LanguageBind_Image and/or --video_tower "
            "LanguageBind/LanguageBind_Video_merge to train Video-LLaVA from it."
        )
    llm, _ = LlamaConfig.get_config_dict(path, cache_dir=training_args.cache_dir)
    llm = {k: v for k, v in llm.items() if k not in ("model_type", "architectures", "transformers_version")}
    towers = {}
    for kind, name in (("image", model_args.image_tower), ("video", model_args.video_tower)):
        if name is not None:
            towers[f"mm_{kind}_tower"] = name
            towers[f"mm_{kind}_tower_config"] = tower_vision_config(kind, name)
    widths = {languagebind_vision_config(c).hidden_size for k, c in towers.items() if k.endswith("_config")}
    if len(widths) != 1:
        raise ValueError(f"the image and video towers must have the same width for the shared projector, got {widths}")
    return VideoLlavaLlamaConfig(
        **llm,
        **towers,
        mm_hidden_size=widths.pop(),
        mm_vision_select_layer=model_args.mm_vision_select_layer,
        mm_vision_select_feature=model_args.mm_vision_select_feature,
        mm_projector_type=model_args.mm_projector_type,
        temporal_attention=model_args.temporal_attention,
    )


def build_video_model(
    model_args: VideoModelArguments,
    data_args: VideoDataArguments,
    training_args: VideoTrainingArguments,
    duet_config: DuetConfig | None,
) -> VideoLlavaLlamaForCausalLM | PeftModel:
    """The model to hand to `LLaVATrainer` (a `PeftModel` around it with `--lora_enable`)."""
    config = video_config(model_args, training_args)
    from_llm = video_llava_layout(model_args.model_name_or_path) is None
    model, info = VideoLlavaLlamaForCausalLM.from_pretrained(
        str(checkpoint_folder(model_args.model_name_or_path)) if not from_llm else model_args.model_name_or_path,
        config=config,
        cache_dir=training_args.cache_dir,
        attn_implementation=model_args.attn_implementation,
        dtype=compute_dtype(training_args),
        output_loading_info=True,
    )
    if from_llm:
        built = ("model.image_tower.", "model.video_tower.", "model.mm_projector.")
        absent = [k for k in info["missing_keys"] if not k.startswith(built)]
        if absent:
            raise ValueError(f"{model_args.model_name_or_path} lacks language-model weights, e.g. {absent[:3]}")
        for tower, name in (
            (model.get_image_tower(), config.mm_image_tower),
            (model.get_video_tower(), config.mm_video_tower),
        ):
            if tower is not None:
                load_tower_weights(tower, name)
        if model_args.pretrain_mm_mlp_adapter:
            projector = strip_prefix(load_weight_file(model_args.pretrain_mm_mlp_adapter), "model.mm_projector.")
            if not projector:
                raise ValueError(f"{model_args.pretrain_mm_mlp_adapter} holds no `model.mm_projector.*` weights.")
            model.get_model().mm_projector.load_state_dict(projector, strict=True)
    else:
        if model_args.pretrain_mm_mlp_adapter:
            raise ValueError("--pretrain_mm_mlp_adapter applies to a language model, not to a Video-LLaVA checkpoint.")
        check_loading_info(Path(model_args.model_name_or_path), info)
    model.config.use_cache = False
    if model_args.freeze_backbone:
        model.get_model().requires_grad_(False)
    if training_args.gradient_checkpointing or getattr(training_args, "activation_checkpointing", None):
        model.enable_input_require_grads()
    for tower in (model.get_image_tower(), model.get_video_tower()):
        if tower is not None:
            tower.model.requires_grad_(False)
    if model_args.tune_mm_mlp_adapter:
        model.requires_grad_(False)
    model.get_model().mm_projector.requires_grad_(not training_args.freeze_mm_mlp_adapter)
    _record_config(model, model_args, data_args, training_args)
    duet_lib.apply(model, duet_config)
    if not training_args.lora_enable:
        return model
    model = add_lora(
        model, training_args.lora_r, training_args.lora_alpha, training_args.lora_dropout, training_args.lora_bias
    )
    model.get_model().mm_projector.requires_grad_(not training_args.freeze_mm_mlp_adapter)
    return model


def _record_config(
    model: VideoLlavaLlamaForCausalLM,
    model_args: VideoModelArguments,
    data_args: VideoDataArguments,
    training_args: VideoTrainingArguments,
) -> None:
    """What Video-LLaVA writes into `config.json`, so that loaders and eval reproduce the training setup."""
    config = model.config
    config.architectures = [type(model).__name__]
    config.image_aspect_ratio = data_args.image_aspect_ratio
    config.tokenizer_padding_side = "right"
    config.tokenizer_model_max_length = training_args.context_length
    config.tune_mm_mlp_adapter = model_args.tune_mm_mlp_adapter
    config.freeze_mm_mlp_adapter = training_args.freeze_mm_mlp_adapter
    config.mm_projector_lr = training_args.mm_projector_lr
    config.mm_use_im_start_end = model_args.mm_use_im_start_end
    config.mm_use_im_patch_token = model_args.mm_use_im_patch_token
