#!/bin/bash
# Run one DUET preset over every LLaVA-1.5 benchmark whose files are under DATA_ROOT, then print the run's table.
# Usage: bash scripts/eval/all.sh CKPT PRESET [EXTRA_ARGS...]
#   CKPT    checkpoint folder or hub id (e.g. liuhaotian/llava-v1.5-7b)
#   PRESET  DUET preset (full, llava-1.5:192, llava-1.5:128, llava-1.5:64, visionzip:64, ...; "" = checkpoint's own)
# Environment: as scripts/v1_5/eval/_common.sh (DATA_ROOT, CONV_MODE, PYTHON, RUNS_DIR, API_KEY_ENV, JUDGE_ARGS,
#   CUDA_VISIBLE_DEVICES), plus BENCHMARKS (space-separated subset; default all) and QBENCH_SPLIT (default dev).
# A benchmark whose files are missing is skipped, and the reason is printed; the layout is LLaVA's eval.zip one,
# described in playground/data/eval/README.md. Answers go to DATA_ROOT/<benchmark>/answers/.../<ckpt>/<preset>/ and
# run records to RUNS_DIR/<ckpt>/<preset>/, so presets never overwrite each other. A failing benchmark does not
# stop the others; the script exits non-zero if any failed.
set -uo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,6p' "$0" >&2
    exit 2
fi
CKPT=$1
PRESET=$2
EXTRA_ARGS=("${@:3}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
V15=$HERE/../v1_5/eval
DATA_ROOT=${DATA_ROOT:-./playground/data/eval}
PYTHON=${PYTHON:-python}
RUNS_DIR=${RUNS_DIR:-$DATA_ROOT/runs}
API_KEY_ENV=${API_KEY_ENV:-OPENAI_API_KEY}
QBENCH_SPLIT=${QBENCH_SPLIT:-dev}
export DATA_ROOT PYTHON RUNS_DIR API_KEY_ENV

ALL="vqav2 gqa vizwiz sqa textvqa pope mme mmbench mmbench_cn seed llavabench mmvet qbench"
BENCHMARKS=${BENCHMARKS:-$ALL}

# The files (under DATA_ROOT) each benchmark's script reads; the first missing one is why it is skipped.
declare -A NEEDS=(
    [vqav2]="vqav2/llava_vqav2_mscoco_test-dev2015.jsonl vqav2/llava_vqav2_mscoco_test2015.jsonl vqav2/test2015"
    [gqa]="gqa/llava_gqa_testdev_balanced.jsonl gqa/data/images gqa/data/testdev_balanced_questions.json"
    [vizwiz]="vizwiz/llava_test.jsonl vizwiz/test"
    [sqa]="scienceqa/llava_test_CQM-A.json scienceqa/images/test scienceqa/problems.json scienceqa/pid_splits.json"
    [textvqa]="textvqa/llava_textvqa_val_v051_ocr.jsonl textvqa/train_images textvqa/TextVQA_0.5.1_val.json"
    [pope]="pope/llava_pope_test.jsonl pope/val2014 pope/coco"
    [mme]="MME/llava_mme.jsonl MME/MME_Benchmark_release_version"
    [mmbench]="mmbench/mmbench_dev_20230712.tsv"
    [mmbench_cn]="mmbench_cn/mmbench_dev_cn_20231003.tsv"
    [seed]="seed_bench/llava-seed-bench.jsonl seed_bench/SEED-Bench.json"
    [llavabench]="llava-bench-in-the-wild/questions.jsonl llava-bench-in-the-wild/images llava-bench-in-the-wild/context.jsonl llava-bench-in-the-wild/answers_gpt4.jsonl"
    [mmvet]="mm-vet/llava-mm-vet.jsonl mm-vet/images"
    [qbench]="qbench/llvisionqa_$QBENCH_SPLIT.json qbench/images_llvisionqa"
)

ran=()
skipped=()
failed=()
for bench in $BENCHMARKS; do
    if [[ -z "${NEEDS[$bench]+x}" ]]; then
        echo "[all.sh] unknown benchmark '$bench' (known: $ALL)" >&2
        exit 2
    fi
    missing=""
    for need in ${NEEDS[$bench]}; do
        if [[ ! -e "$DATA_ROOT/$need" ]]; then
            missing=$need
            break
        fi
    done
    if [[ -n "$missing" ]]; then
        echo "[all.sh] skip $bench: $DATA_ROOT/$missing is missing (see playground/data/eval/README.md)"
        skipped+=("$bench (no $missing)")
        continue
    fi
    echo "[all.sh] === $bench @ ${PRESET:-checkpoint setting} ==="
    if [[ "$bench" == qbench ]]; then
        bash "$V15/qbench.sh" "$QBENCH_SPLIT" "$CKPT" "$PRESET" "${EXTRA_ARGS[@]}"
    else
        bash "$V15/$bench.sh" "$CKPT" "$PRESET" "${EXTRA_ARGS[@]}"
    fi
    if [[ $? -eq 0 ]]; then
        ran+=("$bench")
    else
        echo "[all.sh] $bench FAILED (see above)" >&2
        failed+=("$bench")
    fi
done

echo "[all.sh] ran: ${ran[*]:-none}"
echo "[all.sh] skipped: ${skipped[*]:-none}"
echo "[all.sh] failed: ${failed[*]:-none}"
if [[ -d "$RUNS_DIR" ]] && [[ ${#ran[@]} -gt 0 ]]; then
    "$PYTHON" -m llava.eval.summarize "$RUNS_DIR" || true
fi
[[ ${#failed[@]} -eq 0 ]]
