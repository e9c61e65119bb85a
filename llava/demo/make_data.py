"""Write the demo's synthetic dataset in LLaVA's formats: `python -m llava.demo.make_data --out DIR --seed 0`.

The files mirror LLaVA-1.5's two training stages and its `model_vqa_loader` evaluation, so the demo runs the
real `llava/train/train.py` and a real-style evaluation on them (layout: playground/data/README.md):

- `pretrain.json`  — like `blip_laion_cc_sbu_558k.json`: one `<image>` + caption-instruction turn and a caption;
- `instruct.json`  — like `llava_v1_5_mix665k.json`: several Q/A turns per image (four gave the prototype its
  biggest gain) plus text-only conversations without an `image` key;
- `eval.jsonl`     — held-out questions on unseen images, one per line (`question_id`, `image`, `text`, `answer`,
  `category`), every type asked once per image so the types are balanced;
- `scenes.json`    — what each image shows (kinds, colours, centres, sides), so any answer can be audited;
- `meta.json`      — the generator's arguments: a second run with the same arguments reuses the data.

Everything is drawn from `random.Random` streams seeded by `--seed` and the split name, so the output is
byte-identical across runs and machines.
"""

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.demo.questions import (
    CAPTION_INSTRUCTIONS,
    CATEGORIES,
    QA,
    all_questions,
    caption,
    sample_turns,
    text_only_turns,
)
from llava.demo.scenes import Scene, render_scene, sample_scene

FORMAT_VERSION = 3
"""Bumped whenever the generator's output changes, so stale data on disk is regenerated instead of reused."""


def _conversation(turns: Sequence[QA], with_image: bool) -> list[dict[str, str]]:
    """LLaVA's `conversations` list; the first human turn starts with `<image>\\n` when there is an image."""
    messages: list[dict[str, str]] = []
    for i, qa in enumerate(turns):
        prefix = f"{DEFAULT_IMAGE_TOKEN}\n" if with_image and i == 0 else ""
        messages += [{"from": "human", "value": prefix + qa.question}, {"from": "gpt", "value": qa.answer}]
    return messages


def _draw_split(name: str, count: int, args: argparse.Namespace) -> list[tuple[str, Scene]]:
    """Sample and save `count` images of one split; returns (relative image path, scene) pairs."""
    rng = random.Random(f"{args.seed}-{name}-scenes")
    folder = Path(args.out) / "images" / name
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    for index in tqdm(range(count), desc=f"drawing {name} images", unit="img"):
        scene = sample_scene(rng, args.image_size)
        relative = f"images/{name}/{index:06d}.png"
        render_scene(scene).save(Path(args.out) / relative, compress_level=1)
        drawn.append((relative, scene))
    return drawn


def build_records(
    train: Sequence[tuple[str, Scene]], evaluation: Sequence[tuple[str, Scene]], args: argparse.Namespace
) -> dict[str, list[dict]]:
    """The JSON records of every file, from the drawn scenes (pure: no file access)."""
    rng = random.Random(f"{args.seed}-text")
    pretrain = [
        {
            "id": f"demo-{index:06d}",
            "image": image,
            "conversations": [
                {"from": "human", "value": f"{DEFAULT_IMAGE_TOKEN}\n{rng.choice(CAPTION_INSTRUCTIONS)}"},
                {"from": "gpt", "value": caption(scene)},
            ],
        }
        for index, (image, scene) in enumerate(train)
    ]
    instruct = [
        {
            "id": f"demo-{index:06d}",
            "image": image,
            "conversations": _conversation(sample_turns(rng, scene, args.turns), True),
        }
        for index, (image, scene) in enumerate(train)
    ]
    text_only = round(args.text_only_fraction * len(train))
    instruct += [
        {"id": f"demo-text-{index:06d}", "conversations": _conversation(text_only_turns(rng, args.turns), False)}
        for index in range(text_only)
    ]
    rng.shuffle(instruct)
    questions = [
        {
            "question_id": f"{index:06d}-{category}",
            "image": image,
            "text": qa.question,
            "answer": qa.answer,
            "category": category,
        }
        for index, (image, scene) in enumerate(evaluation)
        for category in CATEGORIES
        for qa in [rng.choice(all_questions(scene)[category])]
    ]
    return {"pretrain": pretrain, "instruct": instruct, "eval": questions}


def generate(args: argparse.Namespace) -> Path:
    """Write the dataset under `args.out`, or reuse it when `meta.json` records the same arguments."""
    out = Path(args.out)
    meta = {
        "format_version": FORMAT_VERSION,
        **{k: v for k, v in sorted(vars(args).items()) if k not in ("out", "force")},
    }
    meta_path = out / "meta.json"
    if not args.force and meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        print(f"[make_data] reusing {out} (same arguments; --force to regenerate)")
        return out
    meta_path.unlink(missing_ok=True)
    train = _draw_split("train", args.train_images, args)
    evaluation = _draw_split("eval", args.eval_images, args)
    records = build_records(train, evaluation, args)
    (out / "pretrain.json").write_text(json.dumps(records["pretrain"], indent=1))
    (out / "instruct.json").write_text(json.dumps(records["instruct"], indent=1))
    (out / "eval.jsonl").write_text("".join(json.dumps(q) + "\n" for q in records["eval"]))
    scenes = {image: scene.to_dict() for image, scene in [*train, *evaluation]}
    (out / "scenes.json").write_text(json.dumps(scenes, indent=1))
    meta_path.write_text(json.dumps(meta, indent=1))
    print(
        f"[make_data] wrote {out}: {len(records['pretrain'])} captions, {len(records['instruct'])} conversations "
        f"({args.turns} turns; {len(records['instruct']) - len(train)} text-only), {len(records['eval'])} eval questions"
    )
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", default="playground/data/demo", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image_size", type=int, default=224, help="square image side in pixels (CLIP's input size)")
    parser.add_argument("--train_images", type=int, default=3000, help="images for both training stages")
    parser.add_argument("--eval_images", type=int, default=100, help="held-out images; one question per type each")
    parser.add_argument("--turns", type=int, default=4, help="Q/A turns per finetuning conversation")
    parser.add_argument(
        "--text_only_fraction", type=float, default=0.1, help="text-only conversations, as a fraction of images"
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if the folder holds the same data")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    generate(parse_args(argv))


if __name__ == "__main__":
    main()
