#!/bin/bash
# GQA testdev-balanced accuracy, chunked over CUDA_VISIBLE_DEVICES.
# Usage: bash scripts/v1_5/eval/gqa.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SPLIT=llava_gqa_testdev_balanced
GQADIR=$DATA_ROOT/gqa/data
ANSWERS=$DATA_ROOT/gqa/answers/$SPLIT/$RUN_NAME

run_chunked "$ANSWERS" "$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$DATA_ROOT/gqa/$SPLIT.jsonl" \
    --image-folder "$GQADIR/images" \
    "${GENERATE_ARGS[@]}"

# Predictions stay next to the answers (LLaVA writes them into the shared GQA folder, where presets collide).
PREDICTIONS=$ANSWERS/testdev_balanced_predictions.json
"$PYTHON" "$REPO_ROOT/scripts/convert_gqa_for_eval.py" --src "$ANSWERS/merge.jsonl" --dst "$PREDICTIONS"
record_args gqa
"$PYTHON" -m llava.eval.eval_gqa --predictions "$PREDICTIONS" \
    --questions "$GQADIR/testdev_balanced_questions.json" --answers-file "$ANSWERS/merge.jsonl" "${RECORD_ARGS[@]}"

# GQA's own eval.py (in the data folder, with the maintainer's patch for the missing v1.2 assets) prints the
# remaining metrics; its accuracy equals the one above.
if [[ -f "$GQADIR/eval/eval.py" ]]; then
    PREDICTIONS=$(cd "$(dirname "$PREDICTIONS")" && pwd)/$(basename "$PREDICTIONS")
    (cd "$GQADIR" && "$PYTHON" eval/eval.py --tier testdev_balanced --predictions "$PREDICTIONS") \
        || echo "[gqa.sh] GQA's eval/eval.py failed (missing v1.2 assets?); the accuracy above stands." >&2
fi
