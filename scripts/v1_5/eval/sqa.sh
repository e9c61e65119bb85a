#!/bin/bash
# ScienceQA test: Accuracy and IMG-Accuracy (the paper's SQA number).
# Usage: bash scripts/v1_5/eval/sqa.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SQA=$DATA_ROOT/scienceqa

"$PYTHON" -m llava.eval.model_vqa_science \
    --question-file "$SQA/llava_test_CQM-A.json" \
    --image-folder "$SQA/images/test" \
    --answers-file "$SQA/answers/$CKPT_NAME.jsonl" \
    --single-pred-prompt \
    "${GENERATE_ARGS[@]}"

"$PYTHON" -m llava.eval.eval_science_qa \
    --base-dir "$SQA" \
    --result-file "$SQA/answers/$CKPT_NAME.jsonl" \
    --output-file "$SQA/answers/${CKPT_NAME}_output.jsonl" \
    --output-result "$SQA/answers/${CKPT_NAME}_result.json" \
    "${SCORE_ARGS[@]}"
