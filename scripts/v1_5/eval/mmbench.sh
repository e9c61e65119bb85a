#!/bin/bash
# MMBench dev (English): answers, local vanilla + circular accuracy, and the xlsx for OpenCompass's server.
# Usage: bash scripts/v1_5/eval/mmbench.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
# SPLIT overrides the TSV (default mmbench_dev_20230712). The xlsx needs the eval extra (pandas + openpyxl).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SPLIT=${SPLIT:-mmbench_dev_20230712}
MMBENCH=$DATA_ROOT/mmbench
ANSWERS=$MMBENCH/answers/$SPLIT/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_mmbench \
    --question-file "$MMBENCH/$SPLIT.tsv" \
    --answers-file "$ANSWERS/answers.jsonl" \
    --single-pred-prompt \
    "${GENERATE_ARGS[@]}"

record_args mmbench
"$PYTHON" -m llava.eval.eval_mmbench --annotation-file "$MMBENCH/$SPLIT.tsv" \
    --result-file "$ANSWERS/answers.jsonl" "${RECORD_ARGS[@]}"

"$PYTHON" "$REPO_ROOT/scripts/convert_mmbench_for_submission.py" \
    --annotation-file "$MMBENCH/$SPLIT.tsv" \
    --result-dir "$ANSWERS" \
    --upload-dir "$MMBENCH/answers_upload/$SPLIT/$RUN_NAME" \
    --experiment answers
