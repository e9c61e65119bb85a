"""LLaVA's length-grouped sampler; with `group_by_modality_length`, batches hold only image or only text samples.

LLaVA-1.5's README reports ~25% faster finetuning on the 665K mix with it, because text-only (ShareGPT) samples are
no longer padded next to image samples. Indices are shuffled in megabatches of `world_size × batch_size`, sorted by
length inside a megabatch and split into per-rank chunks of similar total length; image and text megabatches are
then shuffled together. The leftovers of both modalities form one mixed megabatch, as in LLaVA.

Unlike LLaVA's (which draws from the global torch RNG), the order comes from a generator seeded with
`seed + epoch`, so a resumed run replays the same order and skips exactly the batches it already trained on.
"""

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def split_to_even_chunks(indices: list[int], lengths: Sequence[int], num_chunks: int) -> list[list[int]]:
    """Split `indices` into `num_chunks` lists of equal size and similar total length (greedy, longest first)."""
    if len(indices) % num_chunks != 0:
        return [indices[i::num_chunks] for i in range(num_chunks)]
    per_chunk = len(indices) // num_chunks
    chunks: list[list[int]] = [[] for _ in range(num_chunks)]
    totals = [0.0] * num_chunks
    for index in indices:
        shortest = totals.index(min(totals))
        chunks[shortest].append(index)
        totals[shortest] += lengths[index]
        if len(chunks[shortest]) == per_chunk:
            totals[shortest] = float("inf")
    return chunks


def length_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator
) -> list[int]:
    """Random megabatches, each sorted by length (longest first) and split evenly over the ranks."""
    indices = torch.randperm(len(lengths), generator=generator).tolist()
    size = world_size * batch_size
    megabatches = [
        sorted(indices[i : i + size], key=lambda j: lengths[j], reverse=True) for i in range(0, len(indices), size)
    ]
    return [
        i for megabatch in megabatches for chunk in split_to_even_chunks(megabatch, lengths, world_size) for i in chunk
    ]


def modality_length_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator
) -> list[int]:
    """LLaVA's grouping with `lengths` positive for image samples and negative for text-only ones."""
    if any(length == 0 for length in lengths):
        raise ValueError("modality lengths must be non-zero: positive for image samples, negative for text-only ones.")
    if all(length > 0 for length in lengths) or all(length < 0 for length in lengths):
        return length_grouped_indices([abs(length) for length in lengths], batch_size, world_size, generator)
    mm = [(i, length) for i, length in enumerate(lengths) if length > 0]
    text = [(i, -length) for i, length in enumerate(lengths) if length < 0]
    size = world_size * batch_size
    groups = []
    for pairs in (mm, text):
        ids, group_lengths = zip(*pairs, strict=True)
        order = [ids[i] for i in length_grouped_indices(group_lengths, batch_size, world_size, generator)]
        groups.append([order[i : i + size] for i in range(0, len(order), size)])
    mm_megabatches, text_megabatches = groups
    leftover = mm_megabatches[-1] + text_megabatches[-1]
    megabatches = mm_megabatches[:-1] + text_megabatches[:-1]
    megabatches = [megabatches[i] for i in torch.randperm(len(megabatches), generator=generator).tolist()]
    if len(leftover) >= size:
        megabatches = [leftover[:size], *megabatches]
        leftover = leftover[size:]
    if leftover:
        megabatches.append(leftover)
    return [i for megabatch in megabatches for i in megabatch]


class LengthGroupedSampler(Sampler[int]):
    """LLaVA's sampler: indices grouped by length (and by modality with `group_by_modality`); one pass per epoch.

    `lengths` are the dataset's `modality_lengths` (signed) with `group_by_modality`, else its `lengths`; both are
    LLaVA's cheap word counts, so no sample is loaded to build the order.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, world_size: int, seed: int, group_by_modality: bool
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.world_size = world_size
        self.seed = seed
        self.group_by_modality = group_by_modality
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the training loop at each epoch so that every epoch has its own (reproducible) order."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        group = modality_length_grouped_indices if self.group_by_modality else length_grouped_indices
        return iter(group(self.lengths, self.batch_size, self.world_size, generator))
