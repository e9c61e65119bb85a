"""Load the model an eval CLI asked for: LLaVA's loader plus the DUET, device, attention and tower flags."""

import argparse
import os
from dataclasses import dataclass

from transformers import CLIPImageProcessor, PreTrainedTokenizerBase

from duet.config import DuetConfig
from llava.mm_utils import get_model_name_from_path
from llava.model.builder import load_pretrained_model
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM


@dataclass
class EvalModel:
    """What the generators need: LLaVA's loader outputs plus the `model_id` written into every answer record."""

    tokenizer: PreTrainedTokenizerBase
    model: LlavaLlamaForCausalLM
    image_processor: CLIPImageProcessor
    context_len: int
    name: str

    def metadata(self) -> dict:
        """Per-record provenance: the DUET setting the answer was produced under (None = uncompressed)."""
        duet = self.model.duet
        return {"duet": duet.to_dict() if duet is not None else None}


def load_eval_model(args: argparse.Namespace, duet: DuetConfig | None) -> EvalModel:
    """`duet=None` keeps the checkpoint's stored DUET setting; `--image-aspect-ratio` overrides the config's."""
    model_path = os.path.expanduser(args.model_path)
    name = get_model_name_from_path(model_path)
    tokenizer, model, image_processor, context_len = load_pretrained_model(
        model_path,
        args.model_base,
        name,
        device=args.device,
        attn_implementation=args.attn_implementation,
        vision_tower=args.vision_tower,
        duet=duet,
    )
    if args.image_aspect_ratio is not None:
        model.config.image_aspect_ratio = args.image_aspect_ratio
    return EvalModel(tokenizer, model, image_processor, context_len, name)
