#!/bin/bash
# VizWiz test: answers, then the upload file for EvalAI's server.
# Usage: bash scripts/v1_5/eval/vizwiz.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

VIZWIZ=$DATA_ROOT/vizwiz
ANSWERS=$VIZWIZ/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$VIZWIZ/llava_test.jsonl" \
    --image-folder "$VIZWIZ/test" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" "$REPO_ROOT/scripts/convert_vizwiz_for_submission.py" \
    --annotation-file "$VIZWIZ/llava_test.jsonl" \
    --result-file "$ANSWERS/answers.jsonl" \
    --result-upload-file "$VIZWIZ/answers_upload/$RUN_NAME.json"
echo "[vizwiz.sh] upload $VIZWIZ/answers_upload/$RUN_NAME.json to the EvalAI VizWiz server"
