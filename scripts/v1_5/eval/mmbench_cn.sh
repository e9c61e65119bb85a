#!/bin/bash
# MMBench-CN dev: answers with the Chinese instruction, local vanilla + circular accuracy, and the upload xlsx.
# Usage: bash scripts/v1_5/eval/mmbench_cn.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh)
# SPLIT overrides the TSV (default mmbench_dev_cn_20231003). The xlsx needs the eval extra (pandas + openpyxl).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SPLIT=${SPLIT:-mmbench_dev_cn_20231003}
MMBENCH=$DATA_ROOT/mmbench_cn
ANSWERS=$MMBENCH/answers/$SPLIT/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_mmbench \
    --question-file "$MMBENCH/$SPLIT.tsv" \
    --answers-file "$ANSWERS/answers.jsonl" \
    --lang cn \
    --single-pred-prompt \
    "${GENERATE_ARGS[@]}"

record_args mmbench_cn
"$PYTHON" -m llava.eval.eval_mmbench --benchmark mmbench_cn --annotation-file "$MMBENCH/$SPLIT.tsv" \
    --result-file "$ANSWERS/answers.jsonl" "${RECORD_ARGS[@]}"

"$PYTHON" "$REPO_ROOT/scripts/convert_mmbench_for_submission.py" \
    --annotation-file "$MMBENCH/$SPLIT.tsv" \
    --result-dir "$ANSWERS" \
    --upload-dir "$MMBENCH/answers_upload/$SPLIT/$RUN_NAME" \
    --experiment answers
