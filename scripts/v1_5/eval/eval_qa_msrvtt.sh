#!/bin/bash
# MSRVTT-QA zero-shot: judge run_qa_msrvtt.sh's answers (yes/no + 0-5 score), print accuracy and average score, and
# write a run record for llava.eval.summarize. Needs OPENAI_API_KEY (or --api-key-env NAME for another variable).
# Usage: bash scripts/v1_5/eval/eval_qa_msrvtt.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _video_qa.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_video_qa.sh"

eval_qa MSRVTT_Zero_Shot_QA msrvtt
