"""A tiny `playground/data/eval` tree in LLaVA's eval.zip layout: every LLaVA-1.5 benchmark, two or three questions
each, in the exact file formats the scripts read (question files, images, annotations, ground truth)."""

import base64
import io
import json
from pathlib import Path

from PIL import Image

from llava.eval.mme_score import EVAL_TYPES
from tests.eval.conftest import write_images, write_jsonl

SHORT = "\nAnswer the question using a single word or phrase."
LETTER = "\nAnswer with the option's letter from the given choices directly."


def _image_b64(seed: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (40 + seed, 30), (30 * seed % 255, 90, 160)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _loader_questions(path: Path, images: list[str], texts: list[str], ids: list | None = None, **extra) -> Path:
    ids = ids if ids is not None else list(range(len(images)))
    return write_jsonl(path, [{"question_id": i, "image": image, "text": text, **extra}
                              for i, image, text in zip(ids, images, texts, strict=True)])  # fmt: skip


def build_eval_tree(root: Path) -> Path:
    vqav2 = root / "vqav2"
    images = write_images(vqav2 / "test2015", 2)
    _loader_questions(vqav2 / "llava_vqav2_mscoco_test-dev2015.jsonl", images, ["What is it?" + SHORT] * 2, [11, 12])
    _loader_questions(vqav2 / "llava_vqav2_mscoco_test2015.jsonl", images + images[:1], ["What is it?" + SHORT] * 3,
                      [11, 12, 13])  # fmt: skip

    gqa = root / "gqa"
    images = write_images(gqa / "data" / "images", 2)
    _loader_questions(gqa / "llava_gqa_testdev_balanced.jsonl", images, ["Is it red?" + SHORT] * 2, ["g1", "g2"])
    (gqa / "data" / "testdev_balanced_questions.json").write_text(json.dumps(
        {"g1": {"answer": "yes", "isBalanced": True, "types": {"structural": "verify"}},
         "g2": {"answer": "cube", "isBalanced": True, "types": {"structural": "query"}}}))  # fmt: skip

    vizwiz = root / "vizwiz"
    images = write_images(vizwiz / "test", 2)
    _loader_questions(vizwiz / "llava_test.jsonl", images, ["What is this?\nWhen the provided information is "
                      "insufficient, respond with 'Unanswerable'." + SHORT] * 2)  # fmt: skip

    sqa = root / "scienceqa"
    write_images(sqa / "images" / "test" / "5", 1)
    (sqa / "images" / "test" / "5" / "0000.png").rename(sqa / "images" / "test" / "5" / "image.png")
    context = "Context: N/A\nOptions: (A) gas (B) solid"
    (sqa / "llava_test_CQM-A.json").write_text(json.dumps([
        {"id": "5", "image": "5/image.png", "conversations": [{"from": "human", "value": f"<image>\nWhat state?\n{context}"},
                                                            {"from": "gpt", "value": "B"}]},
        {"id": "6", "conversations": [{"from": "human", "value": f"Which is a solid?\n{context}"},
                                      {"from": "gpt", "value": "B"}]},
    ]))  # fmt: skip
    (sqa / "problems.json").write_text(json.dumps({"5": {"choices": ["gas", "solid"], "answer": 1},
                                                  "6": {"choices": ["gas", "solid"], "answer": 1}}))  # fmt: skip
    (sqa / "pid_splits.json").write_text(json.dumps({"test": ["5", "6"]}))

    textvqa = root / "textvqa"
    images = write_images(textvqa / "train_images", 2)
    ocr = "\nReference OCR token: stop, 25"
    _loader_questions(textvqa / "llava_textvqa_val_v051_ocr.jsonl", images,
                      ["what does the sign say?" + ocr + SHORT, "what is the number?" + ocr + SHORT], ["t1", "t2"])  # fmt: skip
    (textvqa / "TextVQA_0.5.1_val.json").write_text(json.dumps({"data": [
        {"image_id": "t1", "question": "what does the sign say?", "answers": ["stop"] * 10},
        {"image_id": "t2", "question": "what is the number?", "answers": ["25"] * 10}]}))  # fmt: skip

    pope = root / "pope"
    images = write_images(pope / "val2014", 4)
    questions = []
    for i, image in enumerate(images):
        category = ("adversarial", "popular")[i // 2]
        questions.append({"question_id": i, "image": image, "text": "Is there a dog in the image?" + SHORT,
                          "category": category, "label": ["yes", "no"][i % 2]})  # fmt: skip
    write_jsonl(pope / "llava_pope_test.jsonl", [{k: v for k, v in q.items() if k != "label"} for q in questions])
    for category in ("adversarial", "popular"):
        write_jsonl(pope / "coco" / f"coco_pope_{category}.json", [q for q in questions if q["category"] == category])

    mme = root / "MME"
    release = mme / "MME_Benchmark_release_version"
    mme_questions = []
    for tasks in EVAL_TYPES.values():
        for task in tasks:
            (release / task).mkdir(parents=True)
            write_images(release / task, 1)
            (release / task / "0000.txt").write_text("Is it a cat? Please answer yes or no.\tYes\n"
                                                    "Is it a dog? Please answer yes or no.\tNo\n")  # fmt: skip
            for question in ("Is it a cat? Please answer yes or no.", "Is it a dog? Please answer yes or no."):
                mme_questions.append({"question_id": f"{task}/0000.png", "image": f"{task}/0000.png",
                                      "text": question + SHORT})  # fmt: skip
    write_jsonl(mme / "llava_mme.jsonl", mme_questions)

    header = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\tl2-category\tsplit\tsource\tcomment\timage"
    for folder, name, question in (("mmbench", "mmbench_dev_20230712", "What colour?"),
                                   ("mmbench_cn", "mmbench_dev_cn_20231003", "什么颜色?")):  # fmt: skip
        rows = [f"0\t{question}\tnan\tred\tblue\tnan\tnan\tA\tcolour\tperception\tdev\tsrc\tnan\t{_image_b64(1)}",
                f"1000000\t{question}\tnan\tblue\tred\tnan\tnan\tB\tcolour\tperception\tdev\tsrc\tnan\t{_image_b64(1)}",
                f"1\t{question}\tA hint.\tgreen\tred\tblue\tnan\tC\tcolour\tperception\tdev\tsrc\tnan\t{_image_b64(2)}"]  # fmt: skip
        (root / folder).mkdir(parents=True)
        (root / folder / f"{name}.tsv").write_text(header + "\n" + "\n".join(rows) + "\n")

    seed = root / "seed_bench"
    write_images(seed / "SEED-Bench-image", 2)
    _loader_questions(seed / "llava-seed-bench.jsonl", ["SEED-Bench-image/0000.png", "SEED-Bench-image/0001.png"],
                      ["Which?\nA. x\nB. y" + LETTER] * 2, [1, 2])  # fmt: skip
    (seed / "SEED-Bench.json").write_text(json.dumps({
        "question_type": {"Scene Understanding": 1},
        "questions": [{"question_id": "1", "question_type_id": 1, "data_type": "image", "answer": "A"},
                      {"question_id": "2", "question_type_id": 1, "data_type": "image", "answer": "B"}]}))  # fmt: skip

    bench = root / "llava-bench-in-the-wild"
    images = write_images(bench / "images", 2)
    write_jsonl(bench / "questions.jsonl", [
        {"question_id": 0, "image": images[0], "text": "What is shown?", "category": "conv"},
        {"question_id": 1, "image": images[1], "text": "Describe the image in detail.", "category": "detail"}])  # fmt: skip
    write_jsonl(
        bench / "context.jsonl",
        [{"id": f"c{i}", "image": image, "caption": "Noise."} for i, image in enumerate(images)],
    )
    write_jsonl(
        bench / "answers_gpt4.jsonl",
        [{"question_id": i, "answer_id": f"g{i}", "text": "Random noise."} for i in range(2)],
    )

    mmvet = root / "mm-vet"
    images = write_images(mmvet / "images", 2)
    _loader_questions(mmvet / "llava-mm-vet.jsonl", images, ["What is written?", "What is x?"])
    (mmvet / "mm-vet.json").write_text(json.dumps({
        "v1_0": {"imagename": images[0], "question": "What is written?", "answer": "stop", "capability": ["ocr"]},
        "v1_1": {"imagename": images[1], "question": "What is x?", "answer": "3", "capability": ["math", "ocr"]}}))  # fmt: skip

    qbench = root / "qbench"
    images = write_images(qbench / "images_llvisionqa", 2)
    (qbench / "llvisionqa_dev.json").write_text(json.dumps([
        {"id": i, "img_path": image, "question": "How is the clarity?", "candidates": ["High", "Low"],
         "correct_ans": "Low", "type": 0, "concern": 0} for i, image in enumerate(images)]))  # fmt: skip
    return root
