#!/bin/bash
# LLaVA-Bench-in-the-Wild: answers, judge reviews (GPT-4 in the paper) and the relative score.
# Usage: bash scripts/v1_5/eval/llavabench.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _common.sh)
# The judge's key is read from $API_KEY_ENV (default OPENAI_API_KEY); JUDGE_ARGS picks the model and server.
# Without a key the answers are written and scoring is skipped (rerun with the key: answers are resumed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

BENCH=$DATA_ROOT/llava-bench-in-the-wild
ANSWERS=$BENCH/answers/$RUN_NAME

"$PYTHON" -m llava.eval.model_vqa \
    --question-file "$BENCH/questions.jsonl" \
    --image-folder "$BENCH/images" \
    --answers-file "$ANSWERS/answers.jsonl" \
    "${GENERATE_ARGS[@]}"

if ! have_judge; then
    echo "[llavabench.sh] not scored: no judge key in \$$API_KEY_ENV (the reviews need an LLM judge)" >&2
    exit 0
fi
"$PYTHON" -m llava.eval.eval_gpt_review_bench \
    --question "$BENCH/questions.jsonl" \
    --context "$BENCH/context.jsonl" \
    --rule "$REPO_ROOT/llava/eval/table/rule.json" \
    --answer-list "$BENCH/answers_gpt4.jsonl" "$ANSWERS/answers.jsonl" \
    --output "$BENCH/reviews/$RUN_NAME.jsonl" \
    "${JUDGE_FLAGS[@]}"

record_args llavabench
"$PYTHON" -m llava.eval.summarize_gpt_review -f "$BENCH/reviews/$RUN_NAME.jsonl" \
    --answers-file "$ANSWERS/answers.jsonl" "${RECORD_ARGS[@]}"
