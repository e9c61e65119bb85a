"""The synthetic dataset is deterministic, in LLaVA's formats, and every answer matches what was drawn."""

import json
from pathlib import Path

import pytest
from PIL import Image

from llava.demo.make_data import generate, parse_args
from llava.demo.questions import ANSWERS, CATEGORIES
from llava.demo.scenes import COLOURS, COUNT_WORDS, SHAPES

SMALL = ["--train_images", "24", "--eval_images", "6", "--seed", "3"]


def _write(out: Path, *extra: str) -> Path:
    return generate(parse_args(["--out", str(out), *SMALL, *extra]))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("demo_data"))


def _load(data: Path) -> tuple[dict, list, list, list]:
    scenes = json.loads((data / "scenes.json").read_text())
    pretrain = json.loads((data / "pretrain.json").read_text())
    instruct = json.loads((data / "instruct.json").read_text())
    questions = [json.loads(line) for line in (data / "eval.jsonl").read_text().splitlines()]
    return scenes, pretrain, instruct, questions


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(data: Path, tmp_path: Path) -> None:
    assert _files(_write(tmp_path / "again")) == _files(data)


def test_other_seed_gives_other_data(data: Path, tmp_path: Path) -> None:
    other = generate(parse_args(["--out", str(tmp_path / "other"), *SMALL[:-1], "4"]))
    assert (other / "instruct.json").read_bytes() != (data / "instruct.json").read_bytes()


def test_same_arguments_reuse_the_folder(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()}
    _write(data)
    assert "reusing" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()} == before


def test_pixels_at_shape_centres_have_the_recorded_colours(data: Path) -> None:
    scenes, *_ = _load(data)
    for image, scene in scenes.items():
        picture = Image.open(data / image).convert("RGB")
        assert picture.size == (scene["size"], scene["size"])
        assert picture.getpixel((0, 0)) == tuple(scene["background"])  # shapes keep a 1-pixel margin
        kinds = [s["kind"] for s in scene["shapes"]]
        colours = [s["colour"] for s in scene["shapes"]]
        assert 1 <= len(kinds) <= 3 and len(set(kinds)) == len(kinds) and len(set(colours)) == len(colours)
        for shape in scene["shapes"]:
            assert shape["kind"] in SHAPES
            assert picture.getpixel((shape["x"], shape["y"])) == COLOURS[shape["colour"]], (image, shape)
            assert shape["side"] == ("left" if 2 * shape["x"] < scene["size"] else "right")


def _expected_answer(question: str, scene: dict) -> str:
    """Re-derive an answer from the question text and the scene, independently of the generator's code."""
    shapes = scene["shapes"]
    if question == "How many shapes are there?":
        return COUNT_WORDS[len(shapes) - 1]
    for shape in shapes:
        if question == f"What color is the {shape['kind']}?":
            return shape["colour"]
        if question == f"What shape is the {shape['colour']} object?":
            return shape["kind"]
        if question == f"Is the {shape['colour']} {shape['kind']} on the left or the right?":
            return shape["side"]
    raise AssertionError(f"question {question!r} does not refer to anything in the scene")


def test_instruction_answers_match_the_scenes(data: Path) -> None:
    scenes, _, instruct, _ = _load(data)
    with_image = [r for r in instruct if "image" in r]
    assert len(with_image) == 24 and len(instruct) - len(with_image) == round(0.1 * 24)
    for record in with_image:
        turns = record["conversations"]
        assert len(turns) == 8 and [t["from"] for t in turns] == ["human", "gpt"] * 4
        assert turns[0]["value"].startswith("<image>\n")
        assert all("<image>" not in t["value"] for t in turns[1:])
        questions = [t["value"].removeprefix("<image>\n") for t in turns[0::2]]
        assert len(set(questions)) == 4
        for question, answer in zip(questions, [t["value"] for t in turns[1::2]], strict=True):
            assert answer == _expected_answer(question, scenes[record["image"]])


def test_text_only_conversations_have_no_image(data: Path) -> None:
    _, _, instruct, _ = _load(data)
    text_only = [r for r in instruct if "image" not in r]
    assert text_only
    for record in text_only:
        assert all("<image>" not in t["value"] for t in record["conversations"])


def test_pretrain_captions_are_plain_two_turn_samples(data: Path) -> None:
    scenes, pretrain, _, _ = _load(data)
    assert len(pretrain) == 24
    for record in pretrain:
        human, gpt = record["conversations"]
        assert human["from"] == "human" and gpt["from"] == "gpt"
        assert human["value"].startswith("<image>\n")
        for shape in scenes[record["image"]]["shapes"]:
            assert f"{shape['colour']} {shape['kind']} on the {shape['side']}" in gpt["value"]


def test_eval_file_asks_every_type_once_per_unseen_image(data: Path) -> None:
    scenes, pretrain, _, questions = _load(data)
    assert len(questions) == 6 * len(CATEGORIES)
    assert len({q["question_id"] for q in questions}) == len(questions)
    train_images = {r["image"] for r in pretrain}
    for question in questions:
        assert question["image"] not in train_images
        assert question["answer"] in ANSWERS[question["category"]]
        assert question["answer"] == _expected_answer(question["text"], scenes[question["image"]])
    for image in {q["image"] for q in questions}:
        assert sorted(q["category"] for q in questions if q["image"] == image) == sorted(CATEGORIES)
