#!/bin/bash
# Q-Bench (LLVisionQA, Chinese): answers in Q-Bench's submission format.
# Usage: bash scripts/v1_5/eval/qbench_zh.sh {dev|test} [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh)
set -euo pipefail
if [[ "${1:-}" == "dev" ]]; then
    ZH_SPLIT="验证集"
    echo "Evaluating in 'dev' split."
elif [[ "${1:-}" == "test" ]]; then
    ZH_SPLIT="测试集"
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
    --questions-file "$QBENCH/质衡-问答-$ZH_SPLIT.json" \
    --answers-file "$QBENCH/answers/$RUN_NAME/llvisionqa_zh_${QSPLIT}_answers.jsonl" \
    --lang zh \
    "${GENERATE_ARGS[@]}"
