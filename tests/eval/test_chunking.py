"""`--num-chunks/--chunk-idx`: contiguous slices that cover every question exactly once."""

import pytest

from llava.eval.chunking import get_chunk, split_list


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 10])
@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 8])
def test_chunks_cover_every_item_once_in_order(count: int, chunks: int) -> None:
    items = list(range(count))
    assert [x for k in range(chunks) for x in get_chunk(items, chunks, k)] == items


def test_llava_chunk_sizes() -> None:
    assert split_list(list(range(5)), 2) == [[0, 1, 2], [3, 4]]
    assert get_chunk(list(range(5)), 4, 3) == []  # ceil(5/4) = 2 per chunk: only 3 chunks exist


def test_bad_chunk_arguments() -> None:
    with pytest.raises(ValueError, match="--chunk-idx"):
        get_chunk([1, 2], 2, 2)
    with pytest.raises(ValueError, match="--num-chunks"):
        split_list([1], 0)
