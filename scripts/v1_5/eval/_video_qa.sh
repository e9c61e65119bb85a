# Shared by run_qa_*.sh and eval_qa_*.sh (sourced, not run): Video-LLaVA's zero-shot video QA, in its file layout.
# Arguments: [MODEL_PATH] [PRESET] [EXTRA_ARGS...]
#   MODEL_PATH  Video-LLaVA checkpoint, either layout   (default: LanguageBind/Video-LLaVA-7B)
#   PRESET      DUET preset: video-llava:960, video-llava:136, full ("" = no DUET flag)
#   EXTRA_ARGS  passed to the generator (run_qa_*) or the judge (eval_qa_*), e.g. --temporal-attention off
# Environment:
#   GPT_ZERO_SHOT_QA  benchmark root, Video-ChatGPT's layout (default: eval/GPT_Zero_Shot_QA, as Video-LLaVA's)
#   CKPT_NAME         names the output folder             (default: <model folder name>[-<preset>])
#   RUNS_DIR          eval_qa_* writes run records here    (default: $GPT_ZERO_SHOT_QA/runs), for
#                     `python -m llava.eval.summarize $RUNS_DIR --average-set tgif msvd msrvtt` (the paper's average)
#   API_KEY_ENV       variable holding the judge's API key (default: OPENAI_API_KEY)
#   JUDGE_ARGS        extra judge flags, e.g. "--judge-model gpt-4.1 --api-base https://host/v1" (default judge:
#                     gpt-3.5-turbo, Video-ChatGPT's and Video-LLaVA's; DUET's authors used gpt-4.1)
#   BATCH_SIZE (1), NUM_WORKERS (4), PYTHON (python)
#   CUDA_VISIBLE_DEVICES  run_qa_* runs one process per listed GPU, each on one chunk, then merges them in order

MODEL_PATH=${1:-LanguageBind/Video-LLaVA-7B}
PRESET=${2:-}
EXTRA_ARGS=("${@:3}")

GPT_ZERO_SHOT_QA=${GPT_ZERO_SHOT_QA:-eval/GPT_Zero_Shot_QA}
CKPT_NAME=${CKPT_NAME:-$(basename "$MODEL_PATH")${PRESET:+-${PRESET//:/-}}}
RUNS_DIR=${RUNS_DIR:-$GPT_ZERO_SHOT_QA/runs}
API_KEY_ENV=${API_KEY_ENV:-OPENAI_API_KEY}
read -ra JUDGE_FLAGS <<< "${JUDGE_ARGS:-}"
PYTHON=${PYTHON:-python}
DUET_ARGS=()
if [[ -n "$PRESET" ]]; then
    DUET_ARGS=(--duet-preset "$PRESET")
fi

# run_qa FOLDER VIDEO_SUBDIR [MODULE]: answer FOLDER's test_q.json, one chunk per GPU, into FOLDER/$CKPT_NAME/merge.jsonl.
run_qa() {
    local folder=$GPT_ZERO_SHOT_QA/$1 videos=$2 module=${3:-llava.eval.video.run_inference_video_qa}
    local out=$folder/$CKPT_NAME gpus pids=()
    IFS=',' read -ra gpus <<< "${CUDA_VISIBLE_DEVICES:-0}"
    local chunks=${#gpus[@]}
    mkdir -p "$out"
    for idx in $(seq 0 $((chunks - 1))); do
        CUDA_VISIBLE_DEVICES=${gpus[$idx]} "$PYTHON" -m "$module" \
            --model_path "$MODEL_PATH" --video_dir "$folder/$videos" \
            --gt_file_question "$folder/test_q.json" --gt_file_answers "$folder/test_a.json" \
            --output_dir "$out" --output_name "${chunks}_${idx}" --num_chunks "$chunks" --chunk_idx "$idx" \
            --batch-size "${BATCH_SIZE:-1}" --num-workers "${NUM_WORKERS:-4}" "${DUET_ARGS[@]}" "${EXTRA_ARGS[@]}" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid"
    done
    : > "$out/merge.jsonl"
    for idx in $(seq 0 $((chunks - 1))); do
        cat "$out/${chunks}_${idx}.json" >> "$out/merge.jsonl"
    done
}

# eval_qa FOLDER BENCHMARK: judge FOLDER/$CKPT_NAME/merge.jsonl; accuracy and score; a run record in $RUNS_DIR.
eval_qa() {
    local out=$GPT_ZERO_SHOT_QA/$1/$CKPT_NAME benchmark=$2
    "$PYTHON" -m llava.eval.video.eval_video_qa \
        --pred_path "$out/merge.jsonl" --output_dir "$out/judge" --output_json "$out/results.json" \
        --benchmark "$benchmark" --run-record "$RUNS_DIR/$CKPT_NAME/$benchmark.json" \
        --api-key-env "$API_KEY_ENV" "${JUDGE_FLAGS[@]}" "${EXTRA_ARGS[@]}"
}
