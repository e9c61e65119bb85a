#!/bin/bash
# TextVQA val accuracy (prompts carry the reference OCR tokens).
# Usage: bash scripts/v1_5/eval/textvqa.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

TEXTVQA=$DATA_ROOT/textvqa
ANSWERS=$TEXTVQA/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$TEXTVQA/llava_textvqa_val_v051_ocr.jsonl" \
    --image-folder "$TEXTVQA/train_images" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${GENERATE_ARGS[@]}"

record_args textvqa
"$PYTHON" -m llava.eval.eval_textvqa \
    --annotation-file "$TEXTVQA/TextVQA_0.5.1_val.json" \
    --result-file "$ANSWERS/answers.jsonl" \
    "${RECORD_ARGS[@]}"
