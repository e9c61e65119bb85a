"""transformers' `VideoLlavaForConditionalGeneration` as a DUET host, against the original-layout host.

Host (a) is our `VideoLlavaLlamaForCausalLM` with temporal attention off (what the `-hf` conversion kept); host (b)
is transformers' class holding the converted weights, adopted by `duet.apply` through the ``duet.models`` entry
point. The prompts differ as the layouts do (8 `<image>` sentinels vs 8 x 257 `<video>` tokens; 1 sentinel vs 256
`<image>` tokens), yet both run the same engine on the same sequence, so they must keep the same tokens and give the
same logits, loss and generations under every setting.
"""

import pytest
import torch
from transformers import VideoLlavaForConditionalGeneration

import duet
from duet.config import DuetConfig
from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.hosts.hf_video_llava import DuetVideoLlavaForConditionalGeneration
from llava.testing.tiny_video_llava import build_tiny_video_llava, convert_to_hf

FRAMES, PER_FRAME, PER_IMAGE = 8, 257, 256
CONFIGS = {
    "v2v+t2v": DuetConfig(dominant=20, contextual=7, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.25),
                          query="instruction"),
    "t2v only": DuetConfig(layer_list=(1, 3), ratio_list=(0.3, 0.1), query="last"),
    "v2v only": DuetConfig(dominant=40, contextual=10, cluster_width=4),
}  # fmt: skip


@pytest.fixture(scope="module")
def hosts():
    tiny = build_tiny_video_llava(seed=7)
    tiny.model.set_temporal_attention(False)
    hf, _ = convert_to_hf(tiny)
    return tiny, hf


def rows(tiny, hf) -> tuple[list[list[int]], list[list[int]]]:
    """A video sample and an image sample, in both id formats."""
    video = tiny.tokenizer("USER: what is moving in the video? ASSISTANT: a red square").input_ids
    image = tiny.tokenizer("USER: which colour is this? ASSISTANT: blue").input_ids
    ours = [video[:3] + [IMAGE_TOKEN_INDEX] * FRAMES + video[3:], image[:3] + [IMAGE_TOKEN_INDEX] + image[3:]]
    theirs = [video[:3] + [hf.config.video_token_id] * (FRAMES * PER_FRAME) + video[3:],
              image[:3] + [hf.config.image_token_id] * PER_IMAGE + image[3:]]  # fmt: skip
    return ours, theirs


def padded(batch: list[list[int]], pad: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, batch))
    ids, mask = [], []
    for row in batch:
        fill = [pad] * (width - len(row))
        ids.append(fill + row if side == "left" else row + fill)
        mask.append([0] * len(fill) + [1] * len(row) if side == "left" else [1] * len(row) + [0] * len(fill))
    return torch.tensor(ids), torch.tensor(mask)


def labels_for(ids: torch.Tensor, mask: torch.Tensor, visual_ids: tuple[int, ...]) -> torch.Tensor:
    """Every text token after BOS a target; BOS, visual placeholders and padding not (as in a training batch)."""
    labels = ids.clone()
    for token in visual_ids:
        labels[ids == token] = IGNORE_INDEX
    bos = (mask.cumsum(dim=1) == 1) & (mask == 1)
    return labels.masked_fill((mask == 0) | bos, IGNORE_INDEX)


def reference_loss(logits: torch.Tensor, labels: torch.Tensor, out) -> torch.Tensor:
    """Shift to next-token targets first, then keep the surviving positions' targets (shift before gather)."""
    targets = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
    if out.kept_index is not None:
        targets = targets.gather(1, out.kept_index).masked_fill(~out.kept_valid, IGNORE_INDEX)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


def pixels(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(3, FRAMES, 224, 224, generator=generator), torch.randn(3, 224, 224, generator=generator)


def test_adoption_and_full_restore_transformers_exactly(hosts) -> None:
    tiny, hf = hosts
    _, theirs = rows(tiny, hf)
    ids, mask = padded(theirs, hf.config.pad_token_id, "right")
    video, image = pixels(0)
    inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": image[None],
              "pixel_values_videos": video.transpose(0, 1)[None]}  # fmt: skip
    with torch.no_grad():
        reference = hf(**inputs).logits
        duet.apply(hf, CONFIGS["v2v+t2v"])
        assert type(hf) is DuetVideoLlavaForConditionalGeneration
        duet.apply(hf, "full")
        assert type(hf) is VideoLlavaForConditionalGeneration and hf.config.duet is None
        torch.testing.assert_close(hf(**inputs).logits, reference, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("side", ["right", "left"])
def test_both_hosts_keep_the_same_tokens_and_give_the_same_logits_and_loss(hosts, name: str, side: str) -> None:
    tiny, hf = hosts
    config = CONFIGS[name]
    ours_rows, theirs_rows = rows(tiny, hf)
    ids, mask = padded(ours_rows, tiny.tokenizer.pad_token_id, side)
    hf_ids, hf_mask = padded(theirs_rows, hf.config.pad_token_id, side)
    video, image = pixels(1)
    ours_labels = labels_for(ids, mask, (IMAGE_TOKEN_INDEX,))
    duet.apply(tiny.model, config)
    duet.apply(hf, config)
    try:
        with torch.no_grad():
            ours = tiny.model(input_ids=ids, attention_mask=mask, images=[video, image], labels=ours_labels)
            theirs = hf(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=image[None],
                        pixel_values_videos=video.transpose(0, 1)[None],
                        labels=labels_for(hf_ids, hf_mask, (hf.config.video_token_id, hf.config.image_token_id)))  # fmt: skip
            spliced = tiny.model.prepare_multimodal_inputs(ids, mask, ours_labels, [video, image], None, side)
    finally:
        duet.apply(tiny.model, "full")
        duet.apply(hf, "full")
    torch.testing.assert_close(ours.visual_token_mask, theirs.visual_token_mask, rtol=0, atol=0)
    assert len(ours.t2v_keep_masks or ()) == len(config.layer_list)
    for a, b in zip(ours.t2v_keep_masks or (), theirs.t2v_keep_masks or (), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    valid = ours.kept_valid if ours.kept_valid is not None else spliced.attention_mask.bool()
    vocab = ours.logits.shape[-1]
    torch.testing.assert_close(ours.logits[valid], theirs.logits[..., :vocab][valid], rtol=1e-5, atol=1e-5)
    # Each host's loss is cross-entropy on next-token targets shifted before the drops; over the shared vocabulary
    # (host (b) appends <image>, <video>, <pad> and padding rows) the two agree.
    labels = spliced.labels
    torch.testing.assert_close(ours.loss, reference_loss(ours.logits, labels, ours), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(theirs.loss, reference_loss(theirs.logits, labels, theirs), rtol=1e-5, atol=1e-6)
    shared = reference_loss(theirs.logits[..., :vocab], labels, theirs)
    torch.testing.assert_close(shared, ours.loss, rtol=1e-5, atol=1e-6)


def test_video_n0_counts_every_frame(hosts) -> None:
    tiny, hf = hosts
    _, theirs_rows = rows(tiny, hf)
    video, _ = pixels(2)
    ids = torch.tensor([theirs_rows[0]])
    duet.apply(hf, CONFIGS["v2v+t2v"])
    try:
        with torch.no_grad():
            out = hf(input_ids=ids, pixel_values_videos=video.transpose(0, 1)[None])
    finally:
        duet.apply(hf, "full")
    assert int(out.visual_token_mask.sum()) == FRAMES * 27
    assert [int(m.sum()) for m in out.t2v_keep_masks] == [int(216 * 0.5), int(216 * 0.25)]


def test_both_hosts_generate_the_same_batch(hosts) -> None:
    tiny, hf = hosts
    ours_rows, theirs_rows = rows(tiny, hf)
    ids, mask = padded(ours_rows, tiny.tokenizer.pad_token_id, "left")
    hf_ids, hf_mask = padded(theirs_rows, hf.config.pad_token_id, "left")
    video, image = pixels(3)
    duet.apply(tiny.model, CONFIGS["v2v+t2v"])
    duet.apply(hf, CONFIGS["v2v+t2v"])
    try:
        with torch.no_grad():
            ours = tiny.model.generate(ids, attention_mask=mask, images=[video, image], max_new_tokens=4,
                                       do_sample=False, pad_token_id=tiny.tokenizer.pad_token_id)  # fmt: skip
            theirs = hf.generate(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=image[None],
                                 pixel_values_videos=video.transpose(0, 1)[None], max_new_tokens=4, do_sample=False,
                                 pad_token_id=hf.config.pad_token_id)  # fmt: skip
    finally:
        duet.apply(tiny.model, "full")
        duet.apply(hf, "full")
    assert ours.tolist() == theirs[:, hf_ids.shape[1] :].tolist()
