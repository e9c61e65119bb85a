"""Resume, `model_vqa` and `model_vqa_qbench` on the tiny saved checkpoint."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from llava.eval import model_vqa, model_vqa_loader, model_vqa_qbench
from llava.eval.answer_records import AnswersFileError
from tests.eval.conftest import TINY_DUET_ARGS, read_jsonl, write_images
from tests.eval.test_generators import loader_args


def test_resume_continues_an_interrupted_file(
    tiny_checkpoint: Path, vqa_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers.jsonl"
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))
    complete = read_jsonl(answers)
    # An interruption: the first answer written, the second cut off mid-line.
    lines = answers.read_text().splitlines()
    answers.write_text(lines[0] + "\n" + lines[1][:25])
    capsys.readouterr()
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))
    resumed = read_jsonl(answers)
    assert [r["question_id"] for r in resumed] == ["q0", "q1", "q2"]
    assert resumed[0]["answer_id"] == complete[0]["answer_id"]  # kept, not answered again
    assert [r["text"] for r in resumed] == [r["text"] for r in complete]
    err = capsys.readouterr().err
    assert "cut short" in err and "1 question(s) already answered" in err and "[throughput] 2 questions" in err
    # A finished file: a rerun answers nothing and changes nothing.
    before = answers.read_text()
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))
    assert answers.read_text() == before


def test_resume_refuses_another_setting_and_overwrite_starts_over(
    tiny_checkpoint: Path, vqa_files: tuple[Path, Path], tmp_path: Path
) -> None:
    answers = tmp_path / "answers.jsonl"
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))
    first = [r["answer_id"] for r in read_jsonl(answers)]
    with pytest.raises(AnswersFileError, match="--overwrite"):
        model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, "--duet-preset", "full"))
    assert [r["answer_id"] for r in read_jsonl(answers)] == first  # untouched
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, "--duet-preset", "full", "--overwrite"))
    records = read_jsonl(answers)
    assert len(records) == 3 and not {r["answer_id"] for r in records} & set(first)
    assert {r["metadata"]["duet"] for r in records} == {None}


def test_resume_refuses_a_malformed_line(tiny_checkpoint: Path, vqa_files: tuple[Path, Path], tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))
    lines = answers.read_text().splitlines()
    answers.write_text(lines[0] + "\n{not json\n" + lines[2] + "\n")
    with pytest.raises(AnswersFileError, match=r"answers.jsonl:2 is not valid JSON"):
        model_vqa_loader.main(loader_args(tiny_checkpoint, vqa_files, answers, *TINY_DUET_ARGS))


def test_model_vqa_answers_like_the_loader_with_longer_answers(
    tiny_checkpoint: Path, vqa_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """LLaVA's model_vqa: same records; its default answer length is 1024 new tokens (the loader's is 128)."""
    question_file, image_folder = vqa_files
    common = ["--model-path", str(tiny_checkpoint), "--question-file", str(question_file), "--image-folder",
              str(image_folder), "--temperature", "0", "--conv-mode", "vicuna_v1", "--num-workers", "0"]  # fmt: skip
    assert model_vqa_loader.build_parser().parse_args([*common, "--answers-file", "x"]).max_new_tokens == 128
    parser = model_vqa_loader.build_parser(max_new_tokens=model_vqa.MAX_NEW_TOKENS)
    assert parser.parse_args([*common, "--answers-file", "x"]).max_new_tokens == 1024
    model_vqa.main([*common, "--answers-file", str(tmp_path / "vqa.jsonl"), "--max_new_tokens", "3", *TINY_DUET_ARGS])
    model_vqa_loader.main([*common, "--answers-file", str(tmp_path / "loader.jsonl"), "--max_new_tokens", "3",
                           *TINY_DUET_ARGS])  # fmt: skip
    vqa, loader = read_jsonl(tmp_path / "vqa.jsonl"), read_jsonl(tmp_path / "loader.jsonl")
    assert [(r["question_id"], r["prompt"], r["text"]) for r in vqa] == [
        (r["question_id"], r["prompt"], r["text"]) for r in loader
    ]


QBENCH_ITEMS = [
    {"id": 0, "img_path": "0000.png", "question": "How is the clarity of this image?",
     "candidates": ["High", "Medium", "Low"], "correct_ans": "Low", "type": 0, "concern": 0},
    {"id": 1, "img_path": "0001.png", "question": "Is this image noisy?", "candidates": ["Yes", "No"],
     "correct_ans": "No", "type": 0, "concern": 1},
]  # fmt: skip


def test_question_message_matches_llava() -> None:
    item = QBENCH_ITEMS[0]
    assert model_vqa_qbench.question_message(item, "en") == (
        "How is the clarity of this image?\nChoose between one of the options as follows:\nA. High\nB. Medium\nC. Low\n"
    )
    # LLaVA's Chinese string keeps the backslash of "\在" (not an escape sequence in Python)
    assert model_vqa_qbench.question_message(item, "zh").startswith(
        "How is the clarity of this image?\\在下列选项中选择一个:\nA. High"
    )
    with pytest.raises(ValueError, match="en.*zh"):
        model_vqa_qbench.question_message(item, "fr")


def test_qbench_records_and_unpadded_pixels(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_images(tmp_path / "images", 2)
    questions = tmp_path / "llvisionqa_dev.json"
    questions.write_text(json.dumps(QBENCH_ITEMS))
    seen: list[torch.Tensor] = []
    original = model_vqa_qbench.generate_texts

    def spy(model, tokenizer, input_ids, images, image_sizes, masks, options):
        seen.append(images)
        return original(model, tokenizer, input_ids, images, image_sizes, masks, options)

    monkeypatch.setattr(model_vqa_qbench, "generate_texts", spy)
    answers = tmp_path / "llvisionqa_dev_answers.jsonl"
    model_vqa_qbench.main(
        ["--model-path", str(tiny_checkpoint), "--image-folder", str(tmp_path / "images"), "--questions-file",
         str(questions), "--answers-file", str(answers), "--conv-mode", "llava_v1", "--lang", "en",
         "--max_new_tokens", "3", *TINY_DUET_ARGS]
    )  # fmt: skip
    records = read_jsonl(answers)
    assert [{k: r[k] for k in QBENCH_ITEMS[0]} for r in records] == QBENCH_ITEMS
    assert all(isinstance(r["response"], str) and r["metadata"]["duet_preset"] == "llava-1.5:64" for r in records)
    # LLaVA's qbench script feeds the CLIP processor directly: a centre crop of the non-square image, no padding
    from llava.testing.tiny_llava import clip_image_processor

    image = Image.open(tmp_path / "images" / "0001.png").convert("RGB")
    expected = clip_image_processor(336).preprocess(image, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(seen[1], expected)


def test_loader_mme_style_shared_ids(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """MME gives both questions about an image the image path as question_id: both are answered, and resumed."""
    image = write_images(tmp_path / "images", 1)[0]
    questions = [{"question_id": f"existence/{image}", "image": image, "text": text}
                 for text in ("Is there a cat? Please answer yes or no.", "Is there a dog? Please answer yes or no.")]  # fmt: skip
    question_file = tmp_path / "llava_mme.jsonl"
    question_file.write_text("".join(json.dumps(q) + "\n" for q in questions))
    answers = tmp_path / "mme.jsonl"
    files = (question_file, tmp_path / "images")
    model_vqa_loader.main(loader_args(tiny_checkpoint, files, answers, "--duet-preset", "full"))
    first = read_jsonl(answers)
    assert [r["prompt"] for r in first] == [q["text"] for q in questions]
    answers.write_text(answers.read_text().splitlines()[0] + "\n")
    model_vqa_loader.main(loader_args(tiny_checkpoint, files, answers, "--duet-preset", "full"))
    assert [r["prompt"] for r in read_jsonl(answers)] == [q["text"] for q in questions]
    question_file.write_text(question_file.read_text() + json.dumps(questions[0]) + "\n")
    with pytest.raises(AnswersFileError, match="question 3 .* repeats an earlier one"):
        model_vqa_loader.main(loader_args(tiny_checkpoint, files, answers, "--duet-preset", "full"))
