#!/bin/bash
# MMBench dev (English): answers and the xlsx for OpenCompass's evaluation server (needs pandas + openpyxl).
# Usage: bash scripts/v1_5/eval/mmbench.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
# SPLIT overrides the TSV (default mmbench_dev_20230712).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SPLIT=${SPLIT:-mmbench_dev_20230712}
MMBENCH=$DATA_ROOT/mmbench

"$PYTHON" -m llava.eval.model_vqa_mmbench \
    --question-file "$MMBENCH/$SPLIT.tsv" \
    --answers-file "$MMBENCH/answers/$SPLIT/$CKPT_NAME.jsonl" \
    --single-pred-prompt \
    "${GENERATE_ARGS[@]}"

"$PYTHON" "$REPO_ROOT/scripts/convert_mmbench_for_submission.py" \
    --annotation-file "$MMBENCH/$SPLIT.tsv" \
    --result-dir "$MMBENCH/answers/$SPLIT" \
    --upload-dir "$MMBENCH/answers_upload/$SPLIT" \
    --experiment "$CKPT_NAME"
