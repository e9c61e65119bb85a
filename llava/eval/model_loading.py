"""Load the model an eval CLI asked for: LLaVA's loader plus the DUET, device, attention and tower flags."""

import argparse
import os
from dataclasses import dataclass, field

from transformers import CLIPImageProcessorPil, PreTrainedTokenizerBase

from duet.budget import visual_tokens_per_layer
from duet.config import DuetConfig
from llava.duet_queries import default_finder
from llava.eval.prompting import needs_query_mask
from llava.mm_utils import get_model_name_from_path
from llava.model.builder import load_pretrained_model
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM


@dataclass
class EvalModel:
    """What the generators need: LLaVA's loader outputs plus the `model_id` written into every answer record."""

    tokenizer: PreTrainedTokenizerBase
    model: LlavaLlamaForCausalLM
    image_processor: CLIPImageProcessorPil
    context_len: int
    name: str
    preset: str | None = field(default=None)

    def metadata(self) -> dict:
        """Per-record provenance, enough to tell two runs apart and to place a score in the paper's table.

        - `duet`: the active DUET setting (None = uncompressed), `duet_preset`: the `--duet-preset` name it started
          from (None when only explicit flags or the checkpoint's own setting were used);
        - `query_path`: which salient-word path built the T2V query masks ("pos", "spacy-rules", "builtin-rules"),
          or "none" when no salient mask is used — POS and rules pick different words, so scores differ;
        - `temporal_attention`: the video host's setting (`model.config.temporal_attention`); None for images;
        - `visual_tokens`: both token accountings of one image under this setting (`duet.budget`): the layer-averaged
          count the paper reports and the count entering the LLM (N0).
        """
        duet = self.model.duet
        num_layers, patches = self.model.duet_geometry()
        per_layer = visual_tokens_per_layer(duet, num_layers, patches)
        return {
            "duet": duet.to_dict() if duet is not None else None,
            "duet_preset": self.preset,
            "query_path": default_finder().path if needs_query_mask(self.model) else "none",
            "temporal_attention": getattr(self.model.config, "temporal_attention", None),
            "visual_tokens": {"layer_averaged": sum(per_layer) / num_layers, "llm_input": per_layer[0]},
        }


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
    if getattr(args, "image_aspect_ratio", None) is not None:
        model.config.image_aspect_ratio = args.image_aspect_ratio
    return EvalModel(tokenizer, model, image_processor, context_len, name, preset=getattr(args, "duet_preset", None))
