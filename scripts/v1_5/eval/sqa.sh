#!/bin/bash
# ScienceQA test: Accuracy and IMG-Accuracy (the paper's SQA number), scored exactly as LLaVA's eval_science_qa.py.
# Usage: bash scripts/v1_5/eval/sqa.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SQA=$DATA_ROOT/scienceqa
ANSWERS=$SQA/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_science \
    --question-file "$SQA/llava_test_CQM-A.json" \
    --image-folder "$SQA/images/test" \
    --answers-file "$ANSWERS/answers.jsonl" \
    --single-pred-prompt \
    "${GENERATE_ARGS[@]}"

record_args sqa
"$PYTHON" -m llava.eval.eval_science_qa \
    --base-dir "$SQA" \
    --result-file "$ANSWERS/answers.jsonl" \
    --output-file "$ANSWERS/output.jsonl" \
    --output-result "$ANSWERS/result.json" \
    "${RECORD_ARGS[@]}"
