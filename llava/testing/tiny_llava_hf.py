"""A tiny LLaVA in transformers' own layout (`llava-hf/llava-1.5-7b-hf`), holding the weights of a tiny LLaVA-1.5.

The llava-hf conversion of `liuhaotian/llava-v1.5-7b` adds `<image>` and `<pad>` to the tokenizer, grows the
embedding and LM-head rows for them, renames the projector to `multi_modal_projector.linear_{1,2}`, keeps the CLIP
tower inside the checkpoint and ships a `LlavaProcessor` that expands each `<image>` into one token per patch.
`build_llava_hf` does the same for a `TinyLlava`, so both hosts can be compared on identical weights, and
`save_llava_hf_layout` writes the folder `from_pretrained` / `AutoProcessor.from_pretrained` load, with the
legacy key names the hub checkpoints carry (`language_model.model.*`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

from llava.testing.tiny_llava import TinyLlava

IMAGE_TOKEN = "<image>"
PAD_TOKEN = "<pad>"


def build_llava_hf(tiny: TinyLlava, attn_implementation: str = "sdpa") -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """transformers' LLaVA and processor with ``tiny``'s weights; the two new token rows are the old rows' mean."""
    tokenizer = copy.deepcopy(tiny.tokenizer)
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN, "additional_special_tokens": [IMAGE_TOKEN]})
    tokenizer.padding_side = "left"
    model = tiny.model
    text = {k: v for k, v in model.config.to_dict().items() if k in LlamaConfig.__dataclass_fields__}
    text.update(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    tower = model.get_vision_tower()
    config = LlavaConfig(
        text_config=LlamaConfig(**text),
        vision_config=tower.config,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=model.config.mm_vision_select_layer,
        vision_feature_select_strategy="default" if tower.select_feature == "patch" else "full",
        projector_hidden_act="gelu",
        image_seq_length=tower.num_patches,
        pad_token_id=tokenizer.pad_token_id,
    )
    hf = LlavaForConditionalGeneration._from_config(config, attn_implementation=attn_implementation).eval()
    hf.load_state_dict(hf_state_dict(model, len(tokenizer)), strict=True)
    processor = LlavaProcessor(
        image_processor=tiny.image_processor,
        tokenizer=tokenizer,
        patch_size=tower.config.patch_size,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,
    )
    return hf, processor


def _grow_rows(weight: torch.Tensor, rows: int) -> torch.Tensor:
    extra = weight.mean(dim=0, keepdim=True).expand(rows - weight.shape[0], -1)
    return torch.cat([weight, extra])


def hf_state_dict(model: torch.nn.Module, vocab_size: int) -> dict[str, torch.Tensor]:
    """Our LLaVA's weights under transformers' LLaVA names; embedding and LM-head rows grown to ``vocab_size``."""
    state = model.state_dict()
    mapped = {"lm_head.weight": _grow_rows(state["lm_head.weight"], vocab_size)}
    for key, value in state.items():
        if key.startswith("model.mm_projector."):
            layer, rest = key[len("model.mm_projector.") :].split(".", 1)
            mapped[f"model.multi_modal_projector.linear_{1 if layer == '0' else 2}.{rest}"] = value
        elif key.startswith("model.vision_tower.vision_tower."):
            mapped["model.vision_tower." + key[len("model.vision_tower.vision_tower.") :]] = value
        elif key == "model.embed_tokens.weight":
            mapped["model.language_model.embed_tokens.weight"] = _grow_rows(value, vocab_size)
        elif key.startswith("model.") and key != "lm_head.weight":
            mapped["model.language_model." + key[len("model.") :]] = value
    return mapped


def save_llava_hf_layout(tiny: TinyLlava, folder: str | Path) -> Path:
    """Write ``tiny`` as a llava-hf folder (weights, config, tokenizer, processor) and return it."""
    model, processor = build_llava_hf(tiny)
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def expand_image_sentinels(row: torch.Tensor, image_token_id: int, per_image: int) -> torch.Tensor:
    """One unpadded row of LLaVA ids (a −200 sentinel per image) as llava-hf's processor writes it."""
    pieces = [torch.full((per_image,), image_token_id) if int(t) == -200 else t.view(1) for t in row]
    return torch.cat(pieces)
