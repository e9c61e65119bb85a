"""Dataset, collator and sampler: LLaVA's semantics, with text-only samples carrying no image."""

import random
from pathlib import Path

import pytest
import torch

from duet.salient import SalientWordFinder
from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.testing.tiny_llava import clip_image_processor
from llava.testing.tiny_tokenizer import build_tiny_tokenizer
from llava.train.collator import DataCollatorForSupervisedDataset
from llava.train.dataset import LazySupervisedDataset
from llava.train.records import load_records
from llava.train.sampler import LengthGroupedSampler, modality_length_grouped_indices
from tests.train.tiny_runs import write_dataset


@pytest.fixture
def dataset(tmp_path: Path) -> LazySupervisedDataset:
    data = write_dataset(tmp_path, "v1", "itii")
    return LazySupervisedDataset(
        load_records(data),
        build_tiny_tokenizer(),
        "v1",
        image_processor=clip_image_processor(224),
        image_folder=str(tmp_path),
        image_aspect_ratio="pad",
        query_spans_fn=SalientWordFinder(mode="rules").spans,
    )


def test_items(dataset: LazySupervisedDataset) -> None:
    image_item, text_item = dataset[0], dataset[1]
    assert image_item["images"].shape == (1, 3, 224, 224)
    assert "images" not in text_item
    assert int((image_item["input_ids"] == IMAGE_TOKEN_INDEX).sum()) == 1
    assert int((text_item["input_ids"] == IMAGE_TOKEN_INDEX).sum()) == 0
    for item in (image_item, text_item):
        assert item["t2v_query_mask"].shape == item["input_ids"].shape and bool(item["t2v_query_mask"].any())
        assert not bool((item["t2v_query_mask"] & (item["labels"] != IGNORE_INDEX)).any())  # queries are not answers


def test_lengths_follow_llava(dataset: LazySupervisedDataset) -> None:
    words = [sum(len(t["value"].split()) for t in dataset.records[i]["conversations"]) for i in range(4)]
    assert dataset.lengths == [words[0] + 128, words[1], words[2] + 128, words[3] + 128]
    assert dataset.modality_lengths == [words[0], -words[1], words[2], words[3]]


def test_collator_pads_and_keeps_image_order(dataset: LazySupervisedDataset) -> None:
    items = [dataset[i] for i in range(4)]
    batch = DataCollatorForSupervisedDataset(pad_token_id=0)(items)
    lengths = [len(item["input_ids"]) for item in items]
    assert batch["input_ids"].shape == batch["labels"].shape == batch["t2v_query_mask"].shape == (4, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    assert torch.equal(batch["images"], torch.cat([items[0]["images"], items[2]["images"], items[3]["images"]]))
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        assert torch.equal(batch["input_ids"][row, :n], item["input_ids"])
        assert bool((batch["input_ids"][row, n:] == 0).all()) and bool((batch["labels"][row, n:] == IGNORE_INDEX).all())


def test_text_only_batch_has_no_images(dataset: LazySupervisedDataset) -> None:
    assert "images" not in DataCollatorForSupervisedDataset(pad_token_id=0)([dataset[1]])


def test_modality_grouping_keeps_batches_single_modality() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(5, 50) * (1 if rng.random() < 0.6 else -1) for _ in range(64)]
    batch_size, world = 4, 2
    order = modality_length_grouped_indices(lengths, batch_size, world, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(64))
    size = batch_size * world
    full = len(order) // size * size
    mixed = [order[i : i + batch_size] for i in range(0, full, batch_size)
             if len({lengths[j] > 0 for j in order[i : i + batch_size]}) > 1]
    assert len(mixed) <= 2  # only the leftover megabatch may mix modalities


def test_sampler_order_depends_on_seed_and_epoch_only() -> None:
    lengths = [3, -4, 5, -6, 7, 8, -9, 10]
    first, second = (LengthGroupedSampler(lengths, 2, 1, seed=0, group_by_modality=True) for _ in range(2))
    assert list(first) == list(second)
    second.set_epoch(1)
    assert sorted(second) == list(range(8))


def test_length_grouping_sorts_within_megabatches() -> None:
    lengths = list(range(1, 17))
    order = list(LengthGroupedSampler(lengths, batch_size=4, world_size=1, seed=0, group_by_modality=False))
    assert sorted(order) == list(range(16))
    for start in range(0, 16, 4):
        chunk = [lengths[i] for i in order[start : start + 4]]
        assert chunk == sorted(chunk, reverse=True)


def test_image_that_fails_to_decode_is_replaced_by_the_next_entry(
    dataset: LazySupervisedDataset, caplog: pytest.LogCaptureFixture
) -> None:
    """The startup check reads headers only; a corrupt pixel stream found mid-run must not kill the job."""
    path = Path(dataset.image_folder) / dataset.records[0]["image"]
    path.write_bytes(path.read_bytes()[:60])  # a valid PNG header, truncated data
    with caplog.at_level("ERROR", logger="llava.train.dataset"):
        item = dataset[0]
    assert "images" not in item  # entry 1 (text-only) was used instead
    assert torch.equal(item["input_ids"], dataset[1]["input_ids"])
    assert any("id=img-0" in record.getMessage() for record in caplog.records)
