#!/bin/bash
# SEED-Bench: answers chunked over CUDA_VISIBLE_DEVICES (video questions use their middle frame), accuracy per
# question type, image / video / total, and the upload file.
# Usage: bash scripts/v1_5/eval/seed.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SEED=$DATA_ROOT/seed_bench
ANSWERS=$SEED/answers/$RUN_NAME

run_chunked "$ANSWERS" "$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$SEED/llava-seed-bench.jsonl" \
    --image-folder "$SEED" \
    "${GENERATE_ARGS[@]}"

record_args seed
"$PYTHON" "$REPO_ROOT/scripts/convert_seed_for_submission.py" \
    --annotation-file "$SEED/SEED-Bench.json" \
    --result-file "$ANSWERS/merge.jsonl" \
    --result-upload-file "$SEED/answers_upload/$RUN_NAME.jsonl" \
    "${RECORD_ARGS[@]}"
