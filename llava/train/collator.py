"""Batch LLaVA samples: right-pad the token tensors, concatenate the images of the samples that have them.

`LlavaLlamaForCausalLM.forward` takes exactly one image per `<image>` placeholder, in batch order, so text-only
samples contribute nothing to `images`; a batch with no image at all has no `images` key (the model then runs
its vision path on a blank image ×0, which keeps ZeRO-3 ranks in step).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from llava.constants import IGNORE_INDEX


@dataclass
class DataCollatorForSupervisedDataset:
    """LLaVA's collator; `attention_mask` marks real tokens by position, so a literal `<unk>` (= pad) stays visible."""

    pad_token_id: int

    def __call__(self, instances: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        input_ids = [instance["input_ids"] for instance in instances]
        lengths = torch.tensor([len(ids) for ids in input_ids])
        batch: dict[str, torch.Tensor | list[torch.Tensor]] = {
            "input_ids": pad_sequence(input_ids, batch_first=True, padding_value=self.pad_token_id),
            "labels": pad_sequence([i["labels"] for i in instances], batch_first=True, padding_value=IGNORE_INDEX),
        }
        batch["attention_mask"] = torch.arange(batch["input_ids"].shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        if any("t2v_query_mask" in instance for instance in instances):
            masks = [
                instance.get("t2v_query_mask", torch.zeros(len(instance["input_ids"]), dtype=torch.bool))
                for instance in instances
            ]
            batch["t2v_query_mask"] = pad_sequence(masks, batch_first=True, padding_value=False)
        images = [instance["images"] for instance in instances if "images" in instance]
        if images:
            same_shape = all(image.shape[1:] == images[0].shape[1:] for image in images)
            batch["images"] = torch.cat(images) if same_shape else [frame for image in images for frame in image]
        return batch
