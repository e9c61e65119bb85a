# Shared by the scripts in this folder (sourced, not run). Arguments: [MODEL_PATH] [PRESET] [EXTRA_ARGS...]
#   MODEL_PATH  checkpoint folder or hub id            (default: liuhaotian/llava-v1.5-7b)
#   PRESET      DUET preset, e.g. llava-1.5:64 or full  (default: "" = keep the checkpoint's own setting)
#   EXTRA_ARGS  passed to the generator, e.g. --dominant 300 --contextual 7 --compute_salient_tokens True
# Environment:
#   DATA_ROOT     LLaVA's eval data (eval.zip + images)    (default: ./playground/data/eval)
#   CKPT_NAME     the model's name in answer folders       (default: the model folder's name)
#   RUN_NAME      <model>/<setting> folder of this run      (default: $CKPT_NAME/<PRESET with ':' -> '-', or "default">)
#   RUNS_DIR      where scorers write run records           (default: $DATA_ROOT/runs; read by llava.eval.summarize)
#   CONV_MODE     conversation template                     (default: vicuna_v1)
#   PYTHON        interpreter                               (default: python)
#   API_KEY_ENV   variable holding the judge's API key      (default: OPENAI_API_KEY; LLaVA-Bench, MM-Vet)
#   JUDGE_ARGS    extra judge flags, e.g. "--judge-model gpt-4-0613 --api-base https://host/v1"
#   CUDA_VISIBLE_DEVICES  chunked scripts run one process per listed GPU
# Answers of a run go to $DATA_ROOT/<benchmark>/answers/.../$RUN_NAME/, so runs of different presets never overwrite
# each other; rerunning a script resumes its answers files (generators skip questions already answered).

MODEL_PATH=${1:-liuhaotian/llava-v1.5-7b}
PRESET=${2:-}
EXTRA_ARGS=("${@:3}")

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DATA_ROOT=${DATA_ROOT:-./playground/data/eval}
CONV_MODE=${CONV_MODE:-vicuna_v1}
PYTHON=${PYTHON:-python}
CKPT_NAME=${CKPT_NAME:-$(basename "$MODEL_PATH")}
PRESET_NAME=${PRESET:-default}
RUN_NAME=${RUN_NAME:-$CKPT_NAME/${PRESET_NAME//:/-}}
RUNS_DIR=${RUNS_DIR:-$DATA_ROOT/runs}
API_KEY_ENV=${API_KEY_ENV:-OPENAI_API_KEY}
read -ra JUDGE_FLAGS <<< "${JUDGE_ARGS:-}"
JUDGE_FLAGS+=(--api-key-env "$API_KEY_ENV")

DUET_ARGS=()
if [[ -n "$PRESET" ]]; then
    DUET_ARGS=(--duet-preset "$PRESET")
fi

# The generator flags every benchmark shares: greedy decoding, the chat template, and the DUET setting.
GENERATE_ARGS=(--model-path "$MODEL_PATH" --temperature 0 --conv-mode "$CONV_MODE" "${DUET_ARGS[@]}" "${EXTRA_ARGS[@]}")

# record_args BENCHMARK : the scorer flags that write this run's record for BENCHMARK (into RECORD_ARGS).
record_args() {
    RECORD_ARGS=(--run-record "$RUNS_DIR/$RUN_NAME/$1.json" --run-name "$RUN_NAME")
}

# have_judge : true when the judge's API key is in the environment (GPT-judged benchmarks need it to score).
have_judge() {
    [[ -n "${!API_KEY_ENV:-}" ]]
}

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
