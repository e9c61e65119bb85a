"""Write the demo's two starting checkpoints: `python -m llava.demo.base_models --out checkpoints/demo/base`.

LLaVA training starts from a language model and a CLIP tower; the demo builds tiny random ones from
`configs/tiny/` (via `llava.testing.tiny_llava.save_tiny_base_models`) so that `llava/train/train.py` runs
exactly as on `lmsys/vicuna-7b-v1.5` + `openai/clip-vit-large-patch14-336`. Prints the two folders, one per line.
"""

import argparse
from collections.abc import Sequence

from llava.testing.tiny_llava import save_tiny_base_models


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the tiny Vicuna-like LLM and CLIP tower the demo trains from.")
    parser.add_argument("--out", required=True, help="folder that receives tiny-vicuna/ and tiny-clip-<size>/")
    parser.add_argument("--image_size", type=int, default=224, choices=(224, 336), help="CLIP input size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    llm_dir, clip_dir = save_tiny_base_models(args.out, image_size=args.image_size, seed=args.seed)
    print(f"[base_models] LLM: {llm_dir}  CLIP: {clip_dir}")


if __name__ == "__main__":
    main()
