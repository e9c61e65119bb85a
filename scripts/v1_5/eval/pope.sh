#!/bin/bash
# POPE (COCO) accuracy / precision / recall / F1 per category, and their average F1.
# Usage: bash scripts/v1_5/eval/pope.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

POPE=$DATA_ROOT/pope
ANSWERS=$POPE/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$POPE/llava_pope_test.jsonl" \
    --image-folder "$POPE/val2014" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${GENERATE_ARGS[@]}"

record_args pope
"$PYTHON" -m llava.eval.eval_pope \
    --annotation-dir "$POPE/coco" \
    --question-file "$POPE/llava_pope_test.jsonl" \
    --result-file "$ANSWERS/answers.jsonl" \
    "${RECORD_ARGS[@]}"
