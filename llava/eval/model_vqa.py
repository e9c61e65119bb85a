"""LLaVA's `model_vqa`: answer a JSON-lines question file with free-form answers (LLaVA-Bench, MM-Vet).

    python -m llava.eval.model_vqa --model-path liuhaotian/llava-v1.5-7b \\
        --question-file playground/data/eval/mm-vet/llava-mm-vet.jsonl --image-folder playground/data/eval/mm-vet/images \\
        --answers-file answers/mmvet.jsonl --temperature 0 --conv-mode vicuna_v1 --duet-preset llava-1.5:64

The question file has the loader's format (`question_id`, `image`, `text`); the difference from `model_vqa_loader`
is LLaVA's generation length: `model_vqa` lets answers run to 1024 new tokens (the loader's default is 128), since
these benchmarks are judged on long natural answers. The prompt, image handling (RGB, `process_images`), records,
DUET flags, chunks, batching and resume are the loader's.
"""

from collections.abc import Sequence

from llava.eval import model_vqa_loader
from llava.eval.cli import parse_eval_args

MAX_NEW_TOKENS = 1024


def main(argv: Sequence[str] | None = None) -> None:
    parser = model_vqa_loader.build_parser(__doc__.splitlines()[0], max_new_tokens=MAX_NEW_TOKENS)
    model_vqa_loader.eval_model(*parse_eval_args(parser, argv))


if __name__ == "__main__":
    main()
