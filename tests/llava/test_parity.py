"""With no images (and DUET off) LLaVA is its Llama; with images it is transformers' own LLaVA."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from llava.constants import IMAGE_TOKEN_INDEX
from llava.testing.tiny_llava import build_tiny_llava, random_images
from tests.llava.helpers import hf_llava_twin


def _llama_twin(model, attn: str) -> LlamaForCausalLM:
    fields = {k: v for k, v in model.config.to_dict().items() if k in LlamaConfig.__dataclass_fields__}
    twin = LlamaForCausalLM._from_config(LlamaConfig(**fields), attn_implementation=attn).eval()
    weights = {k: v for k, v in model.state_dict().items() if k.startswith(("model.layers", "model.embed", "model.norm", "lm_head"))}
    twin.load_state_dict(weights, strict=True)
    return twin


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_text_only_logits_equal_llama(attn: str) -> None:
    tiny = build_tiny_llava(seed=3, attn_implementation=attn)
    twin = _llama_twin(tiny.model, attn)
    ids = tiny.tokenizer(["USER: what colour is the square? ASSISTANT:"], return_tensors="pt").input_ids
    torch.testing.assert_close(tiny.model(input_ids=ids).logits, twin(input_ids=ids).logits, rtol=0, atol=0)


def test_image_logits_equal_transformers_llava() -> None:
    tiny = build_tiny_llava(seed=4, attn_implementation="eager")
    tiny.model.get_vision_tower().vision_tower.set_attn_implementation("eager")
    image_token_id = len(tiny.tokenizer) - 1
    twin = hf_llava_twin(tiny.model, image_token_id)
    before = tiny.tokenizer("USER:", return_tensors="pt").input_ids[0]
    after = tiny.tokenizer("what shape is red? ASSISTANT:", add_special_tokens=False, return_tensors="pt").input_ids[0]
    ours = torch.cat([before, torch.tensor([IMAGE_TOKEN_INDEX]), after]).unsqueeze(0)
    theirs = torch.cat([before, torch.full((576,), image_token_id), after]).unsqueeze(0)
    pixels = random_images(1, seed=5)
    expected = twin(input_ids=theirs, pixel_values=pixels).logits
    torch.testing.assert_close(tiny.model(input_ids=ours, images=pixels).logits, expected, rtol=1e-5, atol=1e-5)
