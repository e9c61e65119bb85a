#!/bin/bash
# Activitynet-QA zero-shot: answer every question with Video-LLaVA (8 frames, llava_v1, greedy) into
# $GPT_ZERO_SHOT_QA/Activitynet_Zero_Shot_QA/$CKPT_NAME/merge.jsonl. Judge it with eval_qa_activitynet.sh.
# Usage: bash scripts/v1_5/eval/run_qa_activitynet.sh [MODEL_PATH] [PRESET] [EXTRA_ARGS...]   (see _video_qa.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_video_qa.sh"

run_qa Activitynet_Zero_Shot_QA all_test llava.eval.video.run_inference_video_qa_act
