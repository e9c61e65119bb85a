#!/bin/bash
# Q-Bench (LLVisionQA, English): answers in Q-Bench's submission format.
# Usage: bash scripts/v1_5/eval/qbench.sh {dev|test} [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh)
# As in LLaVA the split comes first; the conversation template is llava_v1 (CONV_MODE overrides).
set -euo pipefail
if [[ "${1:-}" == "dev" ]]; then
    echo "Evaluating in 'dev' split."
elif [[ "${1:-}" == "test" ]]; then
    echo "Evaluating in 'test' split."
else
    echo "Unknown split, please choose between 'dev' and 'test'."
    exit 1
fi
QSPLIT=$1
shift
CONV_MODE=${CONV_MODE:-llava_v1}
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

QBENCH=$DATA_ROOT/qbench

"$PYTHON" -m llava.eval.model_vqa_qbench \
    --image-folder "$QBENCH/images_llvisionqa/" \
    --questions-file "$QBENCH/llvisionqa_$QSPLIT.json" \
    --answers-file "$QBENCH/answers/$RUN_NAME/llvisionqa_${QSPLIT}_answers.jsonl" \
    --lang en \
    "${GENERATE_ARGS[@]}"
echo "[qbench.sh] submit $QBENCH/answers/$RUN_NAME/llvisionqa_${QSPLIT}_answers.jsonl as Q-Bench's instructions say"
