#!/bin/bash
# MM-Vet: answers, the result file for MM-Vet's grader, and (with a judge key) the grading itself.
# Usage: bash scripts/v1_5/eval/mmvet.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
# The judge's key is read from $API_KEY_ENV (default OPENAI_API_KEY); JUDGE_ARGS picks the model and server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

MMVET=$DATA_ROOT/mm-vet
ANSWERS=$MMVET/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa \
    --question-file "$MMVET/llava-mm-vet.jsonl" \
    --image-folder "$MMVET/images" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" "$REPO_ROOT/scripts/convert_mmvet_for_eval.py" \
    --src "$ANSWERS/answers.jsonl" \
    --dst "$MMVET/results/$RUN_NAME.json"

if ! have_judge || [[ ! -f "$MMVET/mm-vet.json" ]]; then
    echo "[mmvet.sh] not graded here (needs \$$API_KEY_ENV and $MMVET/mm-vet.json); upload" \
         "$MMVET/results/$RUN_NAME.json to MM-Vet's official grader" >&2
    exit 0
fi
record_args mmvet
"$PYTHON" -m llava.eval.eval_mmvet --mmvet-path "$MMVET" \
    --result-file "$MMVET/results/$RUN_NAME.json" \
    --grade-file "$MMVET/results/${RUN_NAME}_grades.jsonl" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${JUDGE_FLAGS[@]}" "${RECORD_ARGS[@]}"
