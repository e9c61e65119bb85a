#!/bin/bash
# VQAv2 test-dev: answers chunked over CUDA_VISIBLE_DEVICES, then the upload file for EvalAI's server.
# Usage: bash scripts/v1_5/eval/vqav2.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh for the environment)
# SPLIT overrides the question file (default llava_vqav2_mscoco_test-dev2015). Val answers are scored locally by
# python -m llava.eval.eval_vqa --benchmark vqav2 (see llava/eval/README.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SPLIT=${SPLIT:-llava_vqav2_mscoco_test-dev2015}
VQAV2=$DATA_ROOT/vqav2

run_chunked "$VQAV2/answers/$SPLIT/$RUN_NAME" "$PYTHON" -m llava.eval.model_vqa_loader \
    --question-file "$VQAV2/$SPLIT.jsonl" \
    --image-folder "$VQAV2/test2015" \
    "${GENERATE_ARGS[@]}"

"$PYTHON" "$REPO_ROOT/scripts/convert_vqav2_for_submission.py" --dir "$VQAV2" --split "$SPLIT" --ckpt "$RUN_NAME"
echo "[vqav2.sh] upload $VQAV2/answers_upload/$SPLIT/$RUN_NAME.json to the EvalAI VQAv2 server (test-dev)"
