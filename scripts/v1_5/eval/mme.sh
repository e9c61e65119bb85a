#!/bin/bash
# MME perception + cognition scores.
# Usage: bash scripts/v1_5/eval/mme.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

MME=$DATA_ROOT/MME
ANSWERS=$MME/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$MME/llava_mme.jsonl" \
    --image-folder "$MME/MME_Benchmark_release_version" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" -m llava.eval.convert_answer_to_mme --experiment "$RUN_NAME" --data-dir "$MME" \
    --answers-file "$ANSWERS/answers.jsonl" --output-dir "$MME/eval_tool/answers/$RUN_NAME"
record_args mme
"$PYTHON" -m llava.eval.mme_score --results-dir "$MME/eval_tool/answers/$RUN_NAME" \
    --answers-file "$ANSWERS/answers.jsonl" "${RECORD_ARGS[@]}"
