# Shared by the scripts in this folder (sourced, not run). Arguments: [MODEL_PATH] [PRESET] [EXTRA_ARGS...]
#   MODEL_PATH  checkpoint folder or hub id            (default: liuhaotian/llava-v1.5-7b)
#   PRESET      DUET preset, e.g. llava-1.5:64 or full  (default: "" = keep the checkpoint's own setting)
#   EXTRA_ARGS  passed to the generator, e.g. --dominant 300 --contextual 7 --compute_salient_tokens True
# Environment:
#   DATA_ROOT     LLaVA's eval data (eval.zip + images)  (default: ./playground/data/eval)
#   CKPT_NAME     names the answer files                 (default: <model folder name>[-<preset>])
#   CONV_MODE     conversation template                  (default: vicuna_v1)
#   PYTHON        interpreter                            (default: python)
#   SCORES_FILE   if set, scorers record their headline number here under METHOD (default METHOD: PRESET or CKPT_NAME)
#   CUDA_VISIBLE_DEVICES  chunked scripts run one process per listed GPU

MODEL_PATH=${1:-liuhaotian/llava-v1.5-7b}
PRESET=${2:-}
EXTRA_ARGS=("${@:3}")

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DATA_ROOT=${DATA_ROOT:-./playground/data/eval}
CONV_MODE=${CONV_MODE:-vicuna_v1}
PYTHON=${PYTHON:-python}
CKPT_NAME=${CKPT_NAME:-$(basename "$MODEL_PATH")${PRESET:+-${PRESET//:/-}}}

DUET_ARGS=()
if [[ -n "$PRESET" ]]; then
    DUET_ARGS=(--duet-preset "$PRESET")
fi
SCORE_ARGS=()
if [[ -n "${SCORES_FILE:-}" ]]; then
    SCORE_ARGS=(--scores-file "$SCORES_FILE" --method "${METHOD:-${PRESET:-$CKPT_NAME}}")
fi

# The generator flags every benchmark shares: greedy decoding, the chat template, and the DUET setting.
GENERATE_ARGS=(--model-path "$MODEL_PATH" --temperature 0 --conv-mode "$CONV_MODE" "${DUET_ARGS[@]}" "${EXTRA_ARGS[@]}")

# run_chunked OUT_DIR COMMAND... : one process per GPU in CUDA_VISIBLE_DEVICES (each answering one chunk into
# OUT_DIR/<N>_<i>.jsonl), then OUT_DIR/merge.jsonl in chunk order. A failed chunk fails the script.
run_chunked() {
    local out_dir=$1
    shift
    local gpus
    IFS=',' read -ra gpus <<< "${CUDA_VISIBLE_DEVICES:-0}"
    local chunks=${#gpus[@]}
    local pids=()
    mkdir -p "$out_dir"
    for idx in $(seq 0 $((chunks - 1))); do
        CUDA_VISIBLE_DEVICES=${gpus[$idx]} "$@" \
            --answers-file "$out_dir/${chunks}_${idx}.jsonl" --num-chunks "$chunks" --chunk-idx "$idx" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid"
    done
    : > "$out_dir/merge.jsonl"
    for idx in $(seq 0 $((chunks - 1))); do
        cat "$out_dir/${chunks}_${idx}.jsonl" >> "$out_dir/merge.jsonl"
    done
}
