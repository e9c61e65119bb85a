#!/bin/bash
# The paper's Video-LLaVA table (paper.md §3.3): TGIF, MSVD and MSRVTT under full / video-llava:960 / video-llava:136,
# judged, then `llava.eval.summarize` with the paper's average (relative judge accuracy over TGIF, MSVD, MSRVTT).
# Usage: bash scripts/v1_5/eval/video_paper_table.sh [MODEL_PATH] [EXTRA_ARGS...]
#   PRESETS (default "full video-llava:960 video-llava:136"), BENCHMARKS (default "tgif msvd msrvtt"); the rest as
#   in _video_qa.sh. Needs OPENAI_API_KEY for the judge. Writes $RUNS_DIR/table/{table.md,table.csv,retained.png}.
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
MODEL=${1:-LanguageBind/Video-LLaVA-7B}
RUNS_DIR=${RUNS_DIR:-${GPT_ZERO_SHOT_QA:-eval/GPT_Zero_Shot_QA}/runs}
export RUNS_DIR
for preset in ${PRESETS:-full video-llava:960 video-llava:136}; do
    for benchmark in ${BENCHMARKS:-tgif msvd msrvtt}; do
        bash "$HERE/run_qa_$benchmark.sh" "$MODEL" "$preset" "${@:2}"
        bash "$HERE/eval_qa_$benchmark.sh" "$MODEL" "$preset"
    done
done
"${PYTHON:-python}" -m llava.eval.summarize "$RUNS_DIR" --average-set tgif msvd msrvtt --output-dir "$RUNS_DIR/table"
