"""Find every bad entry of a training file before training starts, and say what is wrong with each, by id.

(The command line around these rules is `python -m llava.train.check_data`; `train.py` runs them at startup through
`llava.train.data_setup`, which also applies the `--on_bad_data` policy.)

LLaVA finds bad samples mid-run: a missing image kills the job hours in, and a sample whose labels are all masked
trains on nothing with only a printed warning. Here each entry is checked once, up front, for:

- `bad_record`: not an object with a `conversations` list of `{from, value}` strings, or a malformed `image` field;
- `missing_image` / `unreadable_image`: the file is absent, or PIL cannot identify and verify it;
- `image_placeholder_mismatch`: the number of `<image>` markers differs from the number of images;
- `multiple_images`: more than one image; LLaVA-1.5's templates place one image per sample;
- `no_assistant_turn`: no non-empty `gpt` turn, i.e. nothing to train on;
- `bad_conversation`: the template cannot build the sample (roles out of order, empty turns, ...);
- `too_long`: text tokens plus visual tokens per image exceed `model_max_length` (the visual count is what reaches
  the LLM: N0 = dominant + contextual under DUET's V2V, the tower's patch count otherwise). LLaVA itself trains on
  such samples cut at `model_max_length`; the problem records whether that cut is possible here (`truncatable`):
  it is not when it would fall inside an image or leave no answer token to train on.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image
from transformers import PreTrainedTokenizerBase

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.data.preprocess import GPT, tokenize_conversation
from llava.train.records import image_files, image_path, record_id

# What training does with bad entries (`--on_bad_data`, also `check_data`'s): `refuse` stops on any problem; `skip`
# drops every bad entry; `truncate` (the default, LLaVA's behaviour) cuts over-long entries at model_max_length as
# LLaVA does and still stops on every other problem, which no cut can fix.
BadDataPolicy = Literal["refuse", "skip", "truncate"]
BAD_DATA_POLICIES: tuple[str, ...] = ("refuse", "skip", "truncate")
DEFAULT_BAD_DATA_POLICY = "truncate"

PROBLEM_KINDS: tuple[str, ...] = (
    "bad_record",
    "missing_image",
    "unreadable_image",
    "image_placeholder_mismatch",
    "multiple_images",
    "no_assistant_turn",
    "bad_conversation",
    "too_long",
    # Video entries (Video-LLaVA's data; checked by `llava.train.video_data`).
    "missing_video",
    "unreadable_video",
    "video_placeholder_mismatch",
    "multiple_videos",
)


@dataclass(frozen=True)
class DataProblem:
    """One thing wrong with one entry."""

    index: int
    sample_id: str
    kind: str
    message: str
    truncatable: bool = False  # a `too_long` entry that LLaVA's cut at model_max_length turns into a valid sample

    def __str__(self) -> str:
        return f"[{self.kind}] id={self.sample_id} (entry {self.index}): {self.message}"


@dataclass
class DataReport:
    """All problems found in `total` entries."""

    total: int
    problems: list[DataProblem] = field(default_factory=list)

    @property
    def bad_indices(self) -> set[int]:
        return {problem.index for problem in self.problems}

    def good_indices(self) -> list[int]:
        """Entries with no problem, in file order."""
        bad = self.bad_indices
        return [i for i in range(self.total) if i not in bad]

    def summary(self) -> str:
        counts = Counter(problem.kind for problem in self.problems)
        detail = ", ".join(f"{kind}: {counts[kind]}" for kind in PROBLEM_KINDS if counts[kind])
        return f"{len(self.bad_indices)} of {self.total} entries have problems" + (f" ({detail})" if detail else "")


@dataclass(frozen=True)
class CheckSettings:
    """What a valid entry must satisfy: the template, where images live, and the context budget."""

    tokenizer: PreTrainedTokenizerBase
    template: str
    image_folder: str | None
    image_tokens: int
    model_max_length: int


def _structure_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"an entry must be a JSON object, got {type(record).__name__}"
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        return "`conversations` must be a non-empty list"
    for i, turn in enumerate(turns):
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get("from"), str)
            or not isinstance(turn.get("value"), str)
        ):
            return f"turn {i} must be an object with string `from` and `value`"
    return None


def _image_problems(files: list[str], settings: CheckSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name in files:
        path = image_path(settings.image_folder, name)
        if not path.is_file():
            problems.append(("missing_image", f"image {str(path)!r} does not exist (check --image_folder)"))
            continue
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception as error:  # PIL raises many types for corrupt files; each one means "unreadable"
            problems.append(("unreadable_image", f"image {str(path)!r} cannot be read: {error}"))
    return problems


def check_record(record: Any, index: int, settings: CheckSettings) -> list[DataProblem]:
    """Every problem of one entry (empty when it is good)."""
    sample_id = record_id(record, index)

    def problem(kind: str, message: str) -> DataProblem:
        return DataProblem(index, sample_id, kind, message)

    structure = _structure_problem(record)
    if structure is not None:
        return [problem("bad_record", structure)]
    try:
        files = image_files(record)
    except ValueError as error:
        return [problem("bad_record", str(error))]
    found = [problem(kind, message) for kind, message in _image_problems(files, settings)]
    if len(files) > 1:
        found.append(problem("multiple_images", f"{len(files)} images; the plain and v1 templates take one per sample"))
    turns = record["conversations"]
    markers = sum(turn["value"].count(DEFAULT_IMAGE_TOKEN) for turn in turns)
    if markers != len(files):
        found.append(
            problem(
                "image_placeholder_mismatch",
                f"{markers} {DEFAULT_IMAGE_TOKEN} marker(s) for {len(files)} image(s); give one marker per image",
            )
        )
    if not any(turn["from"] == GPT and turn["value"].strip() for turn in turns):
        found.append(problem("no_assistant_turn", "no non-empty gpt turn: the sample would train on nothing"))
    if found:
        return found
    try:
        sample = tokenize_conversation(turns, settings.tokenizer, settings.template, bool(files), sample_id)
    except ValueError as error:
        return [problem("bad_conversation", str(error))]
    text_tokens = sum(1 for token in sample.input_ids if token != IMAGE_TOKEN_INDEX)
    length = text_tokens + settings.image_tokens * len(files)
    if length > settings.model_max_length:
        keep = truncation_point(sample.input_ids, sample.labels, settings.image_tokens, settings.model_max_length)
        consequence = (
            f"a cut at model_max_length keeps its first {keep} tokens"
            if keep is not None
            else "it cannot be cut there (the cut falls inside an image or before its first answer token)"
        )
        return [
            DataProblem(
                index,
                sample_id,
                "too_long",
                f"{length} positions ({text_tokens} text + {len(files)}x{settings.image_tokens} visual) exceed "
                f"model_max_length {settings.model_max_length}; {consequence}",
                truncatable=keep is not None,
            )
        ]
    return []


def truncation_point(
    input_ids: Sequence[int], labels: Sequence[int], image_tokens: int, max_positions: int
) -> int | None:
    """How many of `input_ids` LLaVA's cut keeps, or None when the cut cannot give a valid sample.

    LLaVA cuts the spliced sequence (each image placeholder expanded to `image_tokens` positions) at
    `model_max_length`. With every image before the cut that is the first `max_positions - n_images x
    (image_tokens - 1)` ids. A cut inside an image, or one that leaves no supervised token, is refused.
    """
    images = [i for i, token in enumerate(input_ids) if token == IMAGE_TOKEN_INDEX]
    spliced = len(input_ids) + len(images) * (image_tokens - 1)
    if spliced <= max_positions:
        return len(input_ids)
    keep = max_positions - len(images) * (image_tokens - 1)
    if keep <= (images[-1] if images else 0):
        return None
    if all(label == IGNORE_INDEX for label in labels[1:keep]):
        return None
    return keep


def check_records(
    records: Sequence[Any], settings: CheckSettings, indices: Sequence[int] | None = None
) -> list[DataProblem]:
    """Problems of `records[i]` for `i` in `indices` (default: all); ranks split the work by passing a shard."""
    chosen = range(len(records)) if indices is None else indices
    return [problem for i in chosen for problem in check_record(records[i], i, settings)]
