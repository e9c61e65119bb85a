"""`python -m duet show` for LLaVA: run one compressed prefill and report which image patches survive each stage.

Registered under the `duet.hosts` entry-point group (pyproject.toml), so `duet` finds it without importing `llava`.
"""

import torch
from PIL import Image

from duet.config import DuetConfig
from duet.trace import TokenTrace, TraceStage, stage_from_assignment
from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.conversation import conv_templates
from llava.duet_queries import build_t2v_query_mask
from llava.mm_utils import process_images, tokenizer_image_token
from llava.model.builder import load_pretrained_model


def _as_picture(pixels: torch.Tensor, mean: list[float], std: list[float]) -> Image.Image:
    """The normalised tensor the tower saw, back as an RGB image."""
    rgb = pixels.float() * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    array = (rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array)


class LlavaDuetHost:
    """Traces token survival through V2V and every T2V stage for one image and question."""

    def trace(self, model_path: str, model_base: str | None, image_path: str, question: str, preset: str) -> TokenTrace:
        tokenizer, model, processor, _ = load_pretrained_model(model_path, model_base, duet=preset)
        conversation = conv_templates["vicuna_v1"].copy()
        conversation.append_message(conversation.roles[0], f"{DEFAULT_IMAGE_TOKEN}\n{question}")
        conversation.append_message(conversation.roles[1], None)
        prompt = conversation.get_prompt()
        pixels = process_images([Image.open(image_path).convert("RGB")], processor, model.config)
        ids = tokenizer_image_token(prompt, tokenizer, return_tensors="pt").unsqueeze(0)
        queries = torch.tensor([build_t2v_query_mask(tokenizer, prompt, question)])
        tower = model.get_vision_tower()
        duet = model.duet or DuetConfig()
        with torch.no_grad():
            out = model(input_ids=ids, images=pixels, t2v_query_mask=queries)
            if duet.v2v_enabled:
                v2v = tower.forward_v2v(pixels, duet)
                assignment, source_index = v2v.assignment[0].tolist(), v2v.source_index[0].tolist()
            else:
                assignment = [-1, *range(tower.num_patches)]
                source_index = list(range(1, tower.num_patches + 1))
        visual_positions = out.visual_token_mask[0].nonzero().flatten().tolist()
        slots = range(len(visual_positions))
        stages: list[TraceStage] = [
            stage_from_assignment(f"into the LLM ({len(visual_positions)} tokens)", assignment, source_index, slots)
        ]
        for layer, keep in zip(duet.layer_list, out.t2v_keep_masks or (), strict=False):
            alive = [slot for slot, pos in enumerate(visual_positions) if bool(keep[0, pos])]
            stages.append(stage_from_assignment(f"after layer {layer} ({len(alive)})", assignment, source_index, alive))
        side = tower.num_patches_per_side
        picture = _as_picture(pixels[0], processor.image_mean, processor.image_std)
        return TokenTrace(image=picture, grid=(side, side), stages=stages)
