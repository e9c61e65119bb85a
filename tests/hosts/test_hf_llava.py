"""transformers' own `LlavaForConditionalGeneration` as a DUET host, against our LLaVA host on the same weights.

Host (a) is `LlavaLlamaForCausalLM`; host (b) is transformers' class loaded with `from_pretrained` from a llava-hf
folder (legacy keys, `<image>` expanded to 576 tokens by its own `LlavaProcessor`). Both run the same engine, so on
the same weights they must keep the same tokens and give the same logits, loss and generations.
"""

from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, LlamaConfig, LlamaForCausalLM, LlavaForConditionalGeneration

import duet
from duet.config import DuetConfig
from llava.duet_queries import build_processor_query_mask
from llava.hosts.hf_llava import DuetLlavaForConditionalGeneration
from llava.testing.tiny_llava import build_tiny_llava, random_images
from llava.testing.tiny_llava_hf import expand_image_sentinels, save_llava_hf_layout
from tests.llava.helpers import IMAGE_COUNTS, PROMPTS, encode, pad_batch

SEED = 2
VOCAB = 1000  # host (b) adds <pad> and <image> after our 1000 tokens; their logits are not compared
TINY_DUET = DuetConfig(
    dominant=40, contextual=12, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.25), query="instruction"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_llava_hf_layout(build_tiny_llava(seed=SEED), tmp_path_factory.mktemp("hf") / "llava-1.5-tiny-hf")


def _hosts(folder: Path, config: DuetConfig | str | None):
    ours = build_tiny_llava(seed=SEED).model
    theirs = LlavaForConditionalGeneration.from_pretrained(folder).eval()
    if config is not None:
        duet.apply(ours, config)
        duet.apply(theirs, config)
    return ours, theirs


def _batch(theirs, side: str, seed: int):
    """The three test prompts (1, 0 and 2 images) in both hosts' id formats, padded on ``side``."""
    tokenizer = build_tiny_llava(seed=SEED).tokenizer
    rows = [encode(tokenizer, p) for p in PROMPTS]
    image_id = theirs.config.image_token_id
    hf_rows = [expand_image_sentinels(r, image_id, 576) for r in rows]
    ids, mask = pad_batch(rows, tokenizer.pad_token_id, side)
    hf_ids, hf_mask = pad_batch(hf_rows, theirs.config.pad_token_id, side)
    return ids, mask, hf_ids, hf_mask, random_images(sum(IMAGE_COUNTS), seed=seed)


def test_full_leaves_the_model_bit_identical(folder: Path) -> None:
    _, theirs = _hosts(folder, None)
    ids, mask, hf_ids, hf_mask, images = _batch(theirs, "right", seed=1)
    reference = theirs(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=images).logits
    state = {k: v.clone() for k, v in theirs.state_dict().items()}
    duet.apply(theirs, TINY_DUET)
    assert type(theirs) is DuetLlavaForConditionalGeneration
    duet.apply(theirs, "full")
    assert type(theirs) is LlavaForConditionalGeneration
    assert getattr(theirs.config, "duet", None) is None
    again = theirs(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=images).logits
    assert torch.equal(again, reference)
    assert all(torch.equal(v, state[k]) for k, v in theirs.state_dict().items())


@pytest.mark.parametrize("positions", ["compact", "keep"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_hosts_keep_the_same_tokens_and_give_the_same_logits(folder: Path, positions: str, side: str) -> None:
    config = DuetConfig(**{**TINY_DUET.to_dict(), "position_ids": positions})
    ours, theirs = _hosts(folder, config)
    ids, mask, hf_ids, hf_mask, images = _batch(theirs, side, seed=2)
    with torch.no_grad():
        a = ours(input_ids=ids, attention_mask=mask, images=images)
        b = theirs(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=images)
    assert torch.equal(a.visual_token_mask, b.visual_token_mask)
    assert all(torch.equal(x, y) for x, y in zip(a.t2v_keep_masks, b.t2v_keep_masks, strict=True))
    assert torch.equal(a.kept_index[a.kept_valid], b.kept_index[b.kept_valid])
    torch.testing.assert_close(b.logits[..., :VOCAB][b.kept_valid], a.logits[a.kept_valid], rtol=1e-5, atol=1e-5)


def _reference_loss(logits: torch.Tensor, labels: torch.Tensor, out) -> torch.Tensor:
    """Shift to next-token targets first, then keep the surviving positions' targets (issue: shift before gather)."""
    targets = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100)
    targets = targets.gather(1, out.kept_index).masked_fill(~out.kept_valid, -100)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


def test_training_step_matches_our_host(folder: Path) -> None:
    ours, theirs = _hosts(folder, TINY_DUET)
    ids, mask, hf_ids, hf_mask, images = _batch(theirs, "right", seed=3)
    labels = ids.masked_fill((mask == 0) | (ids < 0), -100)
    hf_labels = hf_ids.masked_fill((hf_mask == 0) | (hf_ids == theirs.config.image_token_id), -100)
    ours.train()
    theirs.train()
    a = ours(input_ids=ids, attention_mask=mask, images=images, labels=labels)
    b = theirs(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=images, labels=hf_labels)
    # Labels in sequence coordinates are the same for both hosts (visual positions carry none).
    sequence_labels = _spliced_labels(ours, ids, mask, images, labels)
    torch.testing.assert_close(a.loss, _reference_loss(a.logits, sequence_labels, a))
    torch.testing.assert_close(b.loss, _reference_loss(b.logits, sequence_labels, b))
    # Over the shared vocabulary (host (b) adds <pad> and <image> rows) the two hosts' losses agree.
    shared = _reference_loss(b.logits[..., :VOCAB], sequence_labels, b)
    torch.testing.assert_close(shared, a.loss, rtol=1e-5, atol=1e-6)
    b.loss.backward()
    projector = theirs.model.multi_modal_projector.linear_1.weight.grad
    assert projector is not None and float(projector.abs().sum()) > 0


def _spliced_labels(ours, ids, mask, images, labels) -> torch.Tensor:
    with torch.no_grad():
        return ours.prepare_multimodal_inputs(ids, mask, labels, images, None, "right").labels


def test_cached_generation_matches_our_host_step_by_step(folder: Path) -> None:
    ours, theirs = _hosts(folder, TINY_DUET)
    ids, mask, hf_ids, hf_mask, images = _batch(theirs, "left", seed=4)
    kwargs = {"max_new_tokens": 5, "min_new_tokens": 5, "do_sample": False, "output_scores": True,
              "return_dict_in_generate": True}  # fmt: skip
    a = ours.generate(ids, attention_mask=mask, images=images, **kwargs)
    b = theirs.generate(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=images, **kwargs)
    assert torch.equal(b.sequences[:, hf_ids.shape[1] :], a.sequences)
    for step_a, step_b in zip(a.scores, b.scores, strict=True):
        torch.testing.assert_close(step_b[:, :VOCAB], step_a, rtol=1e-5, atol=1e-5)


def test_processor_fed_generation_with_salient_queries(folder: Path) -> None:
    _, theirs = _hosts(folder, DuetConfig(**{**TINY_DUET.to_dict(), "query": "salient"}))
    processor = AutoProcessor.from_pretrained(folder)
    question = "What color is the circle?"
    prompt = f"USER: <image>\n{question} ASSISTANT:"
    inputs = processor(images=Image.new("RGB", (300, 200), "red"), text=prompt, return_tensors="pt")
    assert int((inputs.input_ids == theirs.config.image_token_id).sum()) == 576
    queries = torch.tensor([build_processor_query_mask(processor, prompt, question, inputs.input_ids[0].tolist())])
    out = theirs.generate(**inputs, t2v_query_mask=queries, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (1, inputs.input_ids.shape[1] + 3)
    with pytest.raises(ValueError, match="salient"):
        theirs(**inputs)  # salient mode without the question's mask is an error, not a silent fallback


def test_beam_search_on_a_batch_equals_each_sample_alone(folder: Path) -> None:
    """Beams reorder the cache every step; the DUET stage masks and shifts must follow their rows."""
    ours, theirs = _hosts(folder, TINY_DUET)
    ids, mask, hf_ids, hf_mask, images = _batch(theirs, "left", seed=5)
    pick = [0, 2]  # samples with images (1 and 2 of them)
    per_sample = list(torch.split(images, IMAGE_COUNTS))
    both = torch.cat([per_sample[i] for i in pick])
    kwargs = {"max_new_tokens": 4, "min_new_tokens": 4, "num_beams": 3, "do_sample": False}
    batch_a = ours.generate(ids[pick], attention_mask=mask[pick], images=both, **kwargs)
    batch_b = theirs.generate(input_ids=hf_ids[pick], attention_mask=hf_mask[pick], pixel_values=both, **kwargs)
    for row, i in enumerate(pick):
        valid = mask[i].bool()
        alone_a = ours.generate(ids[i][valid].unsqueeze(0), images=per_sample[i], **kwargs)
        assert torch.equal(alone_a[0], batch_a[row])
        hf_valid = hf_mask[i].bool()
        alone_b = theirs.generate(input_ids=hf_ids[i][hf_valid].unsqueeze(0), pixel_values=per_sample[i], **kwargs)
        assert torch.equal(alone_b[0, -4:], batch_b[row, -4:])


def test_apply_refuses_what_it_cannot_host(folder: Path) -> None:
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2))  # fmt: skip
    with pytest.raises(TypeError, match="LlamaForCausalLM is not a DuetHost.*duet.models"):
        duet.apply(llama, TINY_DUET)
    _, theirs = _hosts(folder, None)
    with pytest.raises(ValueError, match="stage layer 16 is not below the model's 4 decoder layers"):
        duet.apply(theirs, "llava-1.5:64")
    theirs.config.text_config.sliding_window = 8
    with pytest.raises(ValueError, match=r"duet.apply\(LlavaForConditionalGeneration\).*sliding-window"):
        duet.apply(theirs, TINY_DUET)


def test_v2v_only_preset_needs_no_query_mask(folder: Path) -> None:
    """VisionZip-style presets (no T2V stage) keep the default `salient` query mode; nothing may ask for its mask."""
    v2v_only = DuetConfig(dominant=40, contextual=12, v2v_mode="visionzip")
    ours, theirs = _hosts(folder, v2v_only)
    ids, mask, hf_ids, hf_mask, images = _batch(theirs, "right", seed=6)
    with torch.no_grad():
        a = ours(input_ids=ids, attention_mask=mask, images=images)
        b = theirs(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=images)
    assert torch.equal(a.visual_token_mask, b.visual_token_mask)
    valid = b.kept_valid  # no T2V stage: the packed sequence is our host's spliced one
    torch.testing.assert_close(b.logits[..., :VOCAB][valid], a.logits[valid], rtol=1e-5, atol=1e-5)
