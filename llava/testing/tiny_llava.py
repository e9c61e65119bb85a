"""Tiny random LLaVA-1.5 models built from `configs/tiny/`, saved and loaded in the released layout.

Real checkpoints cannot be downloaded on CI machines, so tests (and the demo) build a model from small configs with
the same *structure* as LLaVA-1.5-7B — a CLIP at 336 px / patch 14 (576 patch tokens), an `mlp2x_gelu` projector,
a Llama decoder with grouped-query attention, a Llama-style tokenizer — and save it exactly as
`liuhaotian/llava-v1.5-7b` is laid out: the LLaVA folder holds `config.json` (with `mm_*` fields), the weights
without the vision tower, and the tokenizer; the CLIP tower sits in its own folder named by `mm_vision_tower`.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
)

from llava.model import LlavaConfig, LlavaLlamaForCausalLM
from llava.testing.tiny_tokenizer import build_tiny_tokenizer

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "tiny"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class TinyLlava:
    """A tiny model with its tokenizer and image processor (what `load_pretrained_model` returns, minus context)."""

    model: LlavaLlamaForCausalLM
    tokenizer: PreTrainedTokenizerBase
    image_processor: CLIPImageProcessorPil


def read_tiny_config(name: str) -> dict:
    """A JSON config from `configs/tiny/` (`llama`, `clip_vision_336`, `clip_vision_224`)."""
    path = CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"Tiny config {path} is missing; run from a source checkout of this repository.")
    return json.loads(path.read_text())


def clip_image_processor(image_size: int) -> CLIPImageProcessorPil:
    """CLIP's preprocessing (resize shortest edge, centre crop, CLIP mean/std) at `image_size`."""
    return CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
        do_resize=True,
        do_center_crop=True,
        do_normalize=True,
        do_convert_rgb=True,
    )


def build_tiny_llava(
    seed: int = 0,
    image_size: int = 336,
    projector_type: str = "mlp2x_gelu",
    attn_implementation: str = "sdpa",
    llama_overrides: dict | None = None,
    mm_vision_tower: str = "tiny-clip",
) -> TinyLlava:
    """A randomly initialised tiny LLaVA in memory; `mm_vision_tower` is only a name until saved."""
    torch.manual_seed(seed)
    tokenizer = build_tiny_tokenizer()
    vision_config = CLIPVisionConfig(**read_tiny_config(f"clip_vision_{image_size}"))
    llama = {**read_tiny_config("llama"), **(llama_overrides or {})}
    llama["vocab_size"] = len(tokenizer)
    config = LlavaConfig(
        **llama,
        mm_vision_tower=mm_vision_tower,
        mm_hidden_size=vision_config.hidden_size,
        mm_vision_select_layer=-2,
        mm_vision_select_feature="patch",
        mm_projector_type=projector_type,
        image_aspect_ratio="pad",
        tokenizer_padding_side="right",
        tokenizer_model_max_length=tokenizer.model_max_length,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlavaLlamaForCausalLM._from_config(config, attn_implementation=attn_implementation)
    processor = clip_image_processor(image_size)
    model.get_vision_tower().build_from_config(vision_config, processor)
    model.get_vision_tower().attn_implementation = attn_implementation
    model.eval()
    return TinyLlava(model=model, tokenizer=tokenizer, image_processor=processor)


def save_released_layout(tiny: TinyLlava, root: Path, name: str = "llava-v1.5-tiny") -> Path:
    """Write `root/clip-vit-tiny` and `root/<name>` as the released checkpoints are laid out; returns the latter."""
    root = Path(root)
    clip_dir, model_dir = root / "clip-vit-tiny", root / name
    tower = tiny.model.get_vision_tower()
    tower.vision_tower.save_pretrained(clip_dir)
    tiny.image_processor.save_pretrained(clip_dir)
    tiny.model.config.mm_vision_tower = str(clip_dir)
    tower.vision_tower_name = str(clip_dir)
    tiny.model.save_pretrained(model_dir)
    tiny.tokenizer.save_pretrained(model_dir)
    return model_dir


def random_images(count: int, image_size: int = 336, seed: int = 0) -> torch.Tensor:
    """Normalised random pixel tensors (count, 3, size, size)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, 3, image_size, image_size, generator=generator)



def save_tiny_base_models(root: Path, image_size: int = 224, seed: int = 0) -> tuple[Path, Path]:
    """The two starting points of LLaVA training, tiny: a Vicuna-like LLM folder and a CLIP folder.

    The LLM is saved as a plain `LlamaForCausalLM` with its tokenizer (what `lmsys/vicuna-7b-v1.5` is), so training
    goes through the same path as on real checkpoints: `--model_name_or_path <llm> --vision_tower <clip>`.
    """
    torch.manual_seed(seed)
    root = Path(root)
    llm_dir, clip_dir = root / "tiny-vicuna", root / f"tiny-clip-{image_size}"
    tokenizer = build_tiny_tokenizer()
    llama = read_tiny_config("llama")
    llama["vocab_size"] = len(tokenizer)
    llm = LlamaForCausalLM(LlamaConfig(**llama, pad_token_id=tokenizer.pad_token_id))
    llm.save_pretrained(llm_dir)
    tokenizer.save_pretrained(llm_dir)
    CLIPVisionModel(CLIPVisionConfig(**read_tiny_config(f"clip_vision_{image_size}"))).save_pretrained(clip_dir)
    clip_image_processor(image_size).save_pretrained(clip_dir)
    return llm_dir, clip_dir
