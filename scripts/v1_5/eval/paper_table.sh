#!/bin/bash
# The paper's inference-only table: every preset of PRESETS over BENCHMARKS (scripts/eval/all.sh), then the table,
# CSV and retained-accuracy plot of python -m llava.eval.summarize.
# Usage: bash scripts/v1_5/eval/paper_table.sh [MODEL_PATH] [EXTRA_ARGS...]
# Environment (besides _common.sh's DATA_ROOT, CONV_MODE, PYTHON, RUNS_DIR, CUDA_VISIBLE_DEVICES):
#   PRESETS      space-separated presets      (default: "full llava-1.5:192 llava-1.5:128 llava-1.5:64")
#   BENCHMARKS   space-separated benchmarks   (default: "gqa mme pope sqa textvqa", the paper's five)
#   OUTPUT_DIR   table.md, table.csv, retained.png  (default: $DATA_ROOT/summary/<model folder name>)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL_PATH=${1:-liuhaotian/llava-v1.5-7b}
EXTRA_ARGS=("${@:2}")
DATA_ROOT=${DATA_ROOT:-./playground/data/eval}
PYTHON=${PYTHON:-python}
RUNS_DIR=${RUNS_DIR:-$DATA_ROOT/runs}
PRESETS=${PRESETS:-"full llava-1.5:192 llava-1.5:128 llava-1.5:64"}
export BENCHMARKS=${BENCHMARKS:-"gqa mme pope sqa textvqa"}
CKPT_NAME=${CKPT_NAME:-$(basename "$MODEL_PATH")}
OUTPUT_DIR=${OUTPUT_DIR:-$DATA_ROOT/summary/$CKPT_NAME}
export DATA_ROOT PYTHON RUNS_DIR CKPT_NAME

for preset in $PRESETS; do
    bash "$HERE/../../eval/all.sh" "$MODEL_PATH" "$preset" "${EXTRA_ARGS[@]}"
done
"$PYTHON" -m llava.eval.summarize "$RUNS_DIR/$CKPT_NAME" --output-dir "$OUTPUT_DIR"
