"""LLaVA-1.5 model: config, vision tower, projector, decoder with DUET insertion points, loader."""

from llava.model.configuration_llava import LlavaConfig
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
from llava.model.language_model.llava_llama_model import LlavaLlamaModel

__all__ = ["LlavaConfig", "LlavaLlamaForCausalLM", "LlavaLlamaModel"]
