#!/bin/bash
# TGIF-QA zero-shot: answer every question with Video-LLaVA (8 frames, llava_v1, greedy) into
# $GPT_ZERO_SHOT_QA/TGIF_Zero_Shot_QA/$CKPT_NAME/merge.jsonl. Judge it with eval_qa_tgif.sh.
# Usage: bash scripts/v1_5/eval/run_qa_tgif.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _video_qa.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_video_qa.sh"

run_qa TGIF_Zero_Shot_QA mp4
