"""The hosts behind the `duet_llava` lmms-eval model, and the one function that picks between them.

- `LlavaBackend`: this codebase's `LlavaLlamaForCausalLM` through `load_pretrained_model` (LLaVA's released layout,
  our own saves, LoRA / projector checkpoints; llava-hf folders converted on load), prompts and query masks built as
  LLaVA's generators build them (`llava.eval.prompting`).
- `HfLlavaBackend`: transformers' own `LlavaForConditionalGeneration` with DUET applied by `duet.apply` (the engine's
  HF host, `llava.hosts.hf_llava`) and its own processor, for llava-hf folders; prompts use the same conversation
  template (`conv_template`) as the LLaVA backend.

`select_backend` is the only place that decides. This module does not import lmms-eval, so it is usable and testable
without it.
"""

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from duet.config import DuetConfig


@dataclass(frozen=True)
class Request:
    """One lmms-eval generation request, host-neutral."""

    context: str
    images: list[Any]
    max_new_tokens: int
    temperature: float
    top_p: float | None
    num_beams: int
    until: tuple[str, ...]
    image_aspect_ratio: str | None = None

    def same_decoding(self, other: "Request") -> bool:
        """Whether two requests can share a `generate` call (same decoding and the same number of images)."""
        return (self.max_new_tokens, self.temperature, self.top_p, self.num_beams, self.until, self.image_aspect_ratio,
                len(self.images)) == (other.max_new_tokens, other.temperature, other.top_p, other.num_beams,
                                      other.until, other.image_aspect_ratio, len(other.images))  # fmt: skip


class Backend(Protocol):
    def __init__(self, **kwargs: Any) -> None: ...

    def generate(self, requests: Sequence[Request]) -> list[str]: ...


def cut_at_stop(text: str, until: Sequence[str]) -> str:
    """The answer up to the first stop string (lmms-eval tasks pass `until`)."""
    for stop in until:
        if stop in text:
            text = text.split(stop)[0]
    return text


def checkpoint_config(pretrained: str) -> dict:
    """`config.json` of a folder or of a hub id (from the local HF cache when offline)."""
    folder = Path(os.path.expanduser(pretrained))
    if folder.is_dir():
        path = folder / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: {pretrained} is not a checkpoint folder")
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(pretrained, "config.json"))
    return json.loads(path.read_text())


def is_llava_hf(config: dict) -> bool:
    """transformers' LLaVA layout (llava-hf/*): `text_config` and `vision_config` sub-configs."""
    return "text_config" in config and "vision_config" in config


def select_backend(pretrained: str) -> type:
    """llava-hf folders run on transformers' own class (the engine's HF host); everything else on our LLaVA."""
    return HfLlavaBackend if is_llava_hf(checkpoint_config(pretrained)) else LlavaBackend


def _decoding(request: Request) -> Any:
    from llava.eval.decoding import DecodingOptions

    return DecodingOptions(request.temperature, request.top_p, request.num_beams, request.max_new_tokens)


class LlavaBackend:
    """This codebase's LLaVA-1.5 (see the module docstring)."""

    def __init__(
        self,
        pretrained: str,
        model_base: str | None,
        duet: DuetConfig | None,
        duet_preset: str | None,
        conv_template: str,
        device: str | None,
        attn_implementation: str | None,
        vision_tower: str | None,
    ) -> None:
        import argparse

        from llava.eval.model_loading import load_eval_model

        args = argparse.Namespace(model_path=pretrained, model_base=model_base, device=device,
                                  attn_implementation=attn_implementation, vision_tower=vision_tower,
                                  image_aspect_ratio=None, duet_preset=duet_preset)  # fmt: skip
        self.loaded = load_eval_model(args, duet)
        self.conv_template = conv_template

    def generate(self, requests: Sequence[Request]) -> list[str]:
        from llava.constants import DEFAULT_IMAGE_TOKEN
        from llava.eval.decoding import generate_texts
        from llava.eval.prompting import build_prompt, image_token, needs_query_mask, query_mask
        from llava.mm_utils import process_images, tokenizer_image_token

        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        if requests[0].image_aspect_ratio is not None:
            model.config.image_aspect_ratio = requests[0].image_aspect_ratio
        if len(requests[0].images) > 1:
            raise ValueError("duet_llava (LLaVA-1.5) takes one image per request; this task gives several")
        salient = needs_query_mask(model)
        ids, masks, images = [], [], []
        for request in requests:
            message = request.context
            if request.images and DEFAULT_IMAGE_TOKEN not in message:
                message = image_token(model.config) + "\n" + message
            prompt = build_prompt(self.conv_template, message)
            ids.append(tokenizer_image_token(prompt, tokenizer, return_tensors="pt"))
            if salient:
                masks.append(query_mask(tokenizer, prompt, request.context))
            images.extend(image.convert("RGB") for image in request.images)
        pixels = process_images(images, self.loaded.image_processor, model.config) if images else None
        texts, _ = generate_texts(
            model,
            tokenizer,
            ids,
            pixels,
            [image.size for image in images] if images else None,
            masks if salient else None,
            _decoding(requests[0]),
        )
        return [cut_at_stop(text, request.until) for text, request in zip(texts, requests, strict=True)]


class HfLlavaBackend:
    """transformers' `LlavaForConditionalGeneration` under `duet.apply` (the engine's HF host)."""

    def __init__(
        self,
        pretrained: str,
        model_base: str | None,
        duet: DuetConfig | None,
        duet_preset: str | None,
        conv_template: str,
        device: str | None,
        attn_implementation: str | None,
        vision_tower: str | None,
    ) -> None:
        import torch
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        import duet as duet_lib

        if model_base is not None or vision_tower is not None:
            raise ValueError("a llava-hf checkpoint holds its LLM and tower: drop model_base / vision_tower")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.model = LlavaForConditionalGeneration.from_pretrained(
            pretrained, dtype=dtype, attn_implementation=attn_implementation or "sdpa"
        ).to(self.device)
        self.model.eval()
        duet_lib.apply(self.model, duet if duet is not None else "full")
        self.duet = duet
        self.conv_template = conv_template
        self.processor = AutoProcessor.from_pretrained(pretrained)
        self.processor.tokenizer.padding_side = "left"

    def generate(self, requests: Sequence[Request]) -> list[str]:
        import torch

        from llava.duet_queries import build_processor_query_mask
        from llava.eval.prompting import build_prompt

        if len(requests[0].images) > 1:
            raise ValueError("duet_llava (llava-hf) takes one image per request; this task gives several")
        questions = [request.context for request in requests]
        prompts = [
            build_prompt(self.conv_template, ("<image>\n" if r.images and "<image>" not in r.context else "") + r.context)
            for r in requests
        ]
        images = [image.convert("RGB") for request in requests for image in request.images] or None
        inputs = self.processor(images=images, text=prompts, return_tensors="pt", padding=True).to(self.device)
        extra = {}
        if self.duet is not None and self.duet.t2v_enabled and self.duet.query == "salient":
            width = inputs["input_ids"].shape[1]
            masks = torch.zeros(len(prompts), width, dtype=torch.bool)
            for row, (prompt, question) in enumerate(zip(prompts, questions, strict=True)):
                ids = inputs["input_ids"][row][inputs["attention_mask"][row].bool()].tolist()
                mask = build_processor_query_mask(self.processor, prompt, question, ids)
                masks[row, width - len(mask) :] = torch.tensor(mask)  # the processor pads on the left
            extra["t2v_query_mask"] = masks.to(self.device)
        kwargs = _decoding(requests[0]).generate_kwargs()
        with torch.inference_mode():
            output = self.model.generate(**inputs, **extra, **kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = [t.strip() for t in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]
        return [cut_at_stop(text, request.until) for text, request in zip(texts, requests, strict=True)]
