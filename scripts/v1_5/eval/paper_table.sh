#!/bin/bash
# The paper's inference-only table: GQA, MME, POPE, SQA-IMG and TextVQA for the full model and the three DUET
# budgets, then the average relative accuracy of each (score / full score x 100, averaged over the five).
# Usage: bash scripts/v1_5/eval/paper_table.sh [MODEL_PATH] [EXTRA_ARGS...]
# Environment (besides _common.sh's DATA_ROOT, CONV_MODE, PYTHON, CUDA_VISIBLE_DEVICES):
#   PRESETS      space-separated presets      (default: "full llava-1.5:192 llava-1.5:128 llava-1.5:64")
#   BENCHMARKS   space-separated benchmarks   (default: "gqa mme pope sqa textvqa")
#   BASELINE     the 100% row                 (default: full)
#   SCORES_FILE  where scores are collected   (default: $DATA_ROOT/duet_scores/<model folder name>.json)
set -euo pipefail

HERE=$(dirname "${BASH_SOURCE[0]}")
MODEL_PATH=${1:-liuhaotian/llava-v1.5-7b}
EXTRA_ARGS=("${@:2}")
DATA_ROOT=${DATA_ROOT:-./playground/data/eval}
PYTHON=${PYTHON:-python}
PRESETS=${PRESETS:-"full llava-1.5:192 llava-1.5:128 llava-1.5:64"}
BENCHMARKS=${BENCHMARKS:-"gqa mme pope sqa textvqa"}
BASELINE=${BASELINE:-full}
SCORES_FILE=${SCORES_FILE:-$DATA_ROOT/duet_scores/$(basename "$MODEL_PATH").json}
export DATA_ROOT PYTHON SCORES_FILE

for preset in $PRESETS; do
    for benchmark in $BENCHMARKS; do
        echo "=== $benchmark @ $preset ==="
        METHOD=$preset CKPT_NAME="$(basename "$MODEL_PATH")-${preset//:/-}" \
            bash "$HERE/$benchmark.sh" "$MODEL_PATH" "$preset" "${EXTRA_ARGS[@]}"
    done
done

# shellcheck disable=SC2086  # BENCHMARKS is a word list on purpose
"$PYTHON" -m llava.eval.relative_accuracy --scores-file "$SCORES_FILE" --baseline "$BASELINE" --benchmarks $BENCHMARKS
