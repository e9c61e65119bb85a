#!/bin/bash
# MME perception + cognition scores.
# Usage: bash scripts/v1_5/eval/mme.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

MME=$DATA_ROOT/MME

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$MME/llava_mme.jsonl" \
    --image-folder "$MME/MME_Benchmark_release_version" \
    --answers-file "$MME/answers/$CKPT_NAME.jsonl" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" -m llava.eval.convert_answer_to_mme --experiment "$CKPT_NAME" --data-dir "$MME"
"$PYTHON" -m llava.eval.mme_score --results-dir "$MME/eval_tool/answers/$CKPT_NAME" "${SCORE_ARGS[@]}"
