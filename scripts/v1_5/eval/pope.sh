#!/bin/bash
# POPE (COCO) accuracy / precision / recall / F1 per category, and their average F1.
# Usage: bash scripts/v1_5/eval/pope.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

POPE=$DATA_ROOT/pope

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$POPE/llava_pope_test.jsonl" \
    --image-folder "$POPE/val2014" \
    --answers-file "$POPE/answers/$CKPT_NAME.jsonl" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" -m llava.eval.eval_pope \
    --annotation-dir "$POPE/coco" \
    --question-file "$POPE/llava_pope_test.jsonl" \
    --result-file "$POPE/answers/$CKPT_NAME.jsonl" \
    "${SCORE_ARGS[@]}"
