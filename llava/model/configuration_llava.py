"""Configuration of LLaVA-1.5 on a Llama decoder (`model_type` `llava_llama`).

LLaVA stores its multimodal settings as flat `mm_*` fields next to the Llama fields in one `config.json`; we keep
that layout so released checkpoints (`liuhaotian/llava-v1.5-*`) and LLaVA's training outputs load unchanged. The
fields are typed here instead of being left as loose extras, and DUET's settings live under the single key `duet`.
"""

from huggingface_hub.dataclasses import strict
from transformers import LlamaConfig

LLAVA_MODEL_TYPE = "llava_llama"

# The released LLaVA-1.5 checkpoints say `model_type: llava`, which transformers 5 maps to its own (different)
# LlavaConfig; configs carrying it are read through this class explicitly and re-labelled.
LEGACY_MODEL_TYPES = ("llava",)


@strict
class LlavaConfig(LlamaConfig):
    """A Llama config plus LLaVA's multimodal fields and an optional DUET config (as a dict)."""

    model_type = LLAVA_MODEL_TYPE

    mm_vision_tower: str | None = None
    mm_hidden_size: int | None = None
    mm_vision_select_layer: int = -2
    mm_vision_select_feature: str = "patch"
    mm_projector_type: str = "linear"
    mm_patch_merge_type: str = "flat"
    mm_use_im_start_end: bool = False
    mm_use_im_patch_token: bool = False
    mm_projector_lr: float | None = None
    use_mm_proj: bool = True
    tune_mm_mlp_adapter: bool = False
    freeze_mm_mlp_adapter: bool = False
    image_aspect_ratio: str = "square"
    tokenizer_padding_side: str = "right"
    tokenizer_model_max_length: int | None = None
    duet: dict | None = None
    # Which salient-word finder produced the T2V queries this model was trained with ("pos", "spacy-rules",
    # "builtin-rules"; `duet.salient.SalientWordFinder.path`); None when training used no salient queries.
    duet_salient_path: str | None = None

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs) -> tuple[dict, dict]:
        """Read a Llama LLM's config (what training starts from) or a released `llava` config as this type.

        Both are this config minus fields; relabelling them here keeps transformers from warning "a model of type
        llama/llava to instantiate llava_llama" on every load of the expected case (training, PEFT's save check).
        """
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") in ("llama", *LEGACY_MODEL_TYPES):
            config_dict = {**config_dict, "model_type": LLAVA_MODEL_TYPE}
        return config_dict, kwargs

    def __post_init__(self, **kwargs) -> None:
        # Legacy configs carry the colliding `llava` type as an instance attribute; normalise it so a re-save
        # writes `llava_llama` and Auto classes resolve to this class from then on.
        if kwargs.get("model_type") in LEGACY_MODEL_TYPES:
            kwargs.pop("model_type")
        super().__post_init__(**kwargs)
