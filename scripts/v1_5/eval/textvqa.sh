#!/bin/bash
# TextVQA val accuracy (prompts carry the reference OCR tokens).
# Usage: bash scripts/v1_5/eval/textvqa.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

TEXTVQA=$DATA_ROOT/textvqa

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$TEXTVQA/llava_textvqa_val_v051_ocr.jsonl" \
    --image-folder "$TEXTVQA/train_images" \
    --answers-file "$TEXTVQA/answers/$CKPT_NAME.jsonl" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" -m llava.eval.eval_textvqa \
    --annotation-file "$TEXTVQA/TextVQA_0.5.1_val.json" \
    --result-file "$TEXTVQA/answers/$CKPT_NAME.jsonl" \
    "${SCORE_ARGS[@]}"
