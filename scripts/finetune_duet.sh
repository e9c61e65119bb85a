#!/usr/bin/env bash
# DUET-VLM training: a complete CPU demo with no arguments, or LLaVA-1.5-7B finetuning under DUET on GPUs.
#
# DEMO (no MODEL set) — a few minutes on 2 CPU cores, or faster on a GPU:
#     bash scripts/finetune_duet.sh                 # DUET 192 (67 % fewer visual tokens)
#     PRESET=64 bash scripts/finetune_duet.sh       # DUET 64  (89 % fewer); 128 (78 %) also works, as do 67/78/89
#   1. builds a tiny random Vicuna-like LLM and CLIP tower from configs/tiny/ under $OUTPUT/base;
#   2. draws (or reuses) the synthetic shape dataset in playground/data/demo (see playground/data/README.md);
#   3. pretrains the projector (LLaVA stage 1: --version plain --tune_mm_mlp_adapter True);
#   4. finetunes twice from that projector with the same data and steps (LLaVA stage 2: --version v1): a
#      baseline with all 256 visual tokens, and one with DUET at the demo-scale preset (llava/demo/presets.py);
#   5. evaluates both on held-out images and prints accuracy per question type next to chance and a
#      shuffled-image control, with each finetune's wall time and the speed ratio.
#   Knobs (environment): OUTPUT (checkpoints/demo), DATA_DIR (playground/data/demo), PRESET (192), SEED (0),
#   TRAIN_IMAGES, EVAL_IMAGES, PRETRAIN_STEPS, FINETUNE_STEPS, BATCH_SIZE, PRETRAIN_LR, FINETUNE_LR.
#
# PAPER SETTING (MODEL set) — LLaVA-1.5's finetune recipe (ZeRO-3, lr 2e-5, global batch 128, 1 epoch, bf16,
# gradient checkpointing, pad, group_by_modality_length) with the DUET preset llava-1.5:$PRESET, via deepspeed:
#     MODEL=lmsys/vicuna-7b-v1.5 DATA=playground/data/llava_v1_5_mix665k.json IMAGES=playground/data \
#     VISION_TOWER=openai/clip-vit-large-patch14-336 PRETRAINED_PROJECTOR=.../mm_projector.bin \
#     PRESET=128 [NUM_GPUS=8 | HOSTFILE=hostfile] bash scripts/finetune_duet.sh
#   Without PRETRAINED_PROJECTOR, stage 1 runs first under the same preset (the paper trains both stages with
#   DUET) on PRETRAIN_DATA / PRETRAIN_IMAGES (LLaVA-558K in playground/data/LLaVA-Pretrain by default), with
#   LLaVA's pretrain recipe (ZeRO-2, lr 1e-3, global batch 256). Gradient accumulation is derived from the GPU
#   count so the global batch stays 128 (256 for stage 1). Other knobs: OUTPUT, T2V_QUERY (instruction, what
#   the authors' training scripts ran), REPORT_TO (none), NUM_WORKERS (4).
#
# Python: the active one; with no virtual environment active, the repository's .venv (created by the README's
# install command) when it exists. Everything written goes under checkpoints/ and playground/data/ (ignored).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
if [[ -z "${VIRTUAL_ENV:-}" && -x .venv/bin/python ]]; then
  PYTHON="$REPO_ROOT/.venv/bin/python"
else
  PYTHON="python"
fi
PRESET="$("$PYTHON" -m llava.demo.presets --canonical "${PRESET:-192}")"
SEED="${SEED:-0}"

banner() { printf '\n==> %s\n' "$*"; }
now_ms() { date +%s%3N; }
seconds_since() { local start=$1; local ms=$(( $(now_ms) - start )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

# ----------------------------------------------------------------------------------------------------------- demo
run_demo() {
  local output="${OUTPUT:-checkpoints/demo}" data="${DATA_DIR:-playground/data/demo}"
  local batch="${BATCH_SIZE:-8}"
  local started; started=$(now_ms)
  mkdir -p "$output"

  banner "1/6 tiny base models (configs/tiny) -> $output/base"
  "$PYTHON" -m llava.demo.base_models --out "$output/base" --image_size 224 --seed "$SEED"
  local llm="$output/base/tiny-vicuna" clip="$output/base/tiny-clip-224"  # save_tiny_base_models' folder names
  if [[ ! -d "$llm" || ! -d "$clip" ]]; then
    echo "error: expected $llm and $clip after building the base models." >&2
    exit 1
  fi

  banner "2/6 synthetic shape data -> $data"
  "$PYTHON" -m llava.demo.make_data --out "$data" --seed "$SEED" \
    --train_images "${TRAIN_IMAGES:-3000}" --eval_images "${EVAL_IMAGES:-100}" --turns 4 --text_only_fraction 0.1

  local common=(
    --model_name_or_path "$llm" --vision_tower "$clip" --image_folder "$data"
    --mm_vision_select_layer -2 --mm_projector_type mlp2x_gelu
    --mm_use_im_start_end False --mm_use_im_patch_token False
    --per_device_train_batch_size "$batch" --gradient_accumulation_steps 1
    --warmup_ratio 0.03 --weight_decay 0.
    --model_max_length 512 --logging_steps 20 --save_strategy no --report_to none
    --dataloader_num_workers 0 --seed "$SEED"
  )

  banner "3/6 pretrain the projector (stage 1: plain captions, projector only)"
  "$PYTHON" llava/train/train.py "${common[@]}" --version plain --tune_mm_mlp_adapter True \
    --data_path "$data/pretrain.json" --max_steps "${PRETRAIN_STEPS:-30}" --lr_scheduler_type cosine \
    --learning_rate "${PRETRAIN_LR:-1e-3}" --output_dir "$output/pretrain"

  local finetune=(
    "${common[@]}" --version v1 --pretrain_mm_mlp_adapter "$output/pretrain/mm_projector.bin"
    --data_path "$data/instruct.json" --image_aspect_ratio pad --group_by_modality_length True
    --max_steps "${FINETUNE_STEPS:-400}" --learning_rate "${FINETUNE_LR:-1e-3}" --lr_scheduler_type constant_with_warmup
  )
  local label baseline_label="baseline: all 256 visual tokens"
  label="$("$PYTHON" -m llava.demo.presets --describe "$PRESET")"
  local duet_flags; read -r -a duet_flags <<<"$("$PYTHON" -m llava.demo.presets --train_flags "$PRESET")"

  banner "4/6 finetune the baseline (stage 2: all 256 visual tokens)"
  local t0; t0=$(now_ms)
  "$PYTHON" llava/train/train.py "${finetune[@]}" --output_dir "$output/finetune-baseline"
  local baseline_seconds; baseline_seconds=$(seconds_since "$t0")

  banner "5/6 finetune with $label"
  t0=$(now_ms)
  "$PYTHON" llava/train/train.py "${finetune[@]}" "${duet_flags[@]}" --output_dir "$output/finetune-duet-$PRESET"
  local duet_seconds; duet_seconds=$(seconds_since "$t0")

  banner "6/6 evaluate on held-out images (own images, then shuffled images)"
  local evaluate=(-m llava.demo.evaluate --question-file "$data/eval.jsonl" --image-folder "$data" --seed "$SEED")
  "$PYTHON" "${evaluate[@]}" --model-path "$output/finetune-baseline" --duet none \
    --results-file "$output/eval-baseline.json" --answers-file "$output/answers-baseline.jsonl"
  "$PYTHON" "${evaluate[@]}" --model-path "$output/finetune-duet-$PRESET" --duet checkpoint \
    --results-file "$output/eval-duet-$PRESET.json" --answers-file "$output/answers-duet-$PRESET.jsonl"

  banner "results (seed $SEED, $(seconds_since "$started") s in total)"
  "$PYTHON" -m llava.demo.report --out "$output/results-duet-$PRESET.txt" \
    --run "$baseline_label=$output/eval-baseline.json" --wall "$baseline_label=$baseline_seconds" \
    --run "$label=$output/eval-duet-$PRESET.json" --wall "$label=$duet_seconds"
}

# ----------------------------------------------------------------------------------------------- paper setting
world_size() {
  if [[ -n "${HOSTFILE:-}" ]]; then
    awk '!/^[[:space:]]*(#|$)/ { for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, kv, "="); n += kv[2] } }
         END { print n + 0 }' "$HOSTFILE"
  elif [[ -n "${NUM_GPUS:-}" ]]; then
    echo "$NUM_GPUS"
  else
    nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true
  fi
}

# Per-device batch and accumulation for a global batch: LLaVA's per-device size, halved until it fits.
batch_split() {
  local global=$1 per_device=$2 world=$3
  while (( per_device > 1 && per_device * world > global )); do per_device=$(( per_device / 2 )); done
  if (( global % (per_device * world) != 0 )); then
    echo "error: global batch $global is not a multiple of $per_device x $world GPUs; set NUM_GPUS to a divisor." >&2
    return 1
  fi
  echo "$per_device $(( global / (per_device * world) ))"
}

run_paper() {
  : "${DATA:?set DATA to the finetuning JSON, e.g. playground/data/llava_v1_5_mix665k.json}"
  : "${IMAGES:?set IMAGES to the image root, e.g. playground/data}"
  : "${VISION_TOWER:?set VISION_TOWER, e.g. openai/clip-vit-large-patch14-336}"
  local world; world="$(world_size)"
  if (( world < 1 )); then
    echo "error: no GPU found; set NUM_GPUS or HOSTFILE (or unset MODEL to run the CPU demo)." >&2
    exit 1
  fi
  local output="${OUTPUT:-checkpoints/llava-v1.5-7b-duet-$PRESET}"
  local launcher=("$PYTHON" -m deepspeed.launcher.runner)
  if [[ -n "${HOSTFILE:-}" ]]; then launcher+=(--hostfile "$HOSTFILE"); else launcher+=(--num_gpus "$world"); fi
  local common=(
    --model_name_or_path "$MODEL" --vision_tower "$VISION_TOWER"
    --mm_vision_select_layer -2 --mm_projector_type mlp2x_gelu
    --mm_use_im_start_end False --mm_use_im_patch_token False
    --duet_preset "llava-1.5:$PRESET" --t2v_query "${T2V_QUERY:-instruction}"
    --bf16 True --tf32 True --num_train_epochs 1 --weight_decay 0. --warmup_ratio 0.03 --lr_scheduler_type cosine
    --model_max_length 2048 --gradient_checkpointing True --dataloader_num_workers "${NUM_WORKERS:-4}"
    --lazy_preprocess True --logging_steps 1 --save_strategy steps --save_total_limit 1
    --report_to "${REPORT_TO:-none}"
  )

  local projector="${PRETRAINED_PROJECTOR:-}"
  if [[ -z "$projector" ]]; then
    local split; split=($(batch_split 256 32 "$world"))
    banner "stage 1: pretrain the projector under DUET $PRESET ($world GPUs x ${split[0]} x accum ${split[1]} = 256)"
    "${launcher[@]}" llava/train/train.py --deepspeed configs/deepspeed/zero2.json "${common[@]}" --version plain \
      --data_path "${PRETRAIN_DATA:-playground/data/LLaVA-Pretrain/blip_laion_cc_sbu_558k.json}" \
      --image_folder "${PRETRAIN_IMAGES:-playground/data/LLaVA-Pretrain/images}" --tune_mm_mlp_adapter True \
      --per_device_train_batch_size "${split[0]}" --gradient_accumulation_steps "${split[1]}" \
      --learning_rate 1e-3 --save_steps 24000 --output_dir "$output-pretrain"
    projector="$output-pretrain/mm_projector.bin"
  fi

  local split; split=($(batch_split 128 16 "$world"))
  banner "stage 2: finetune under DUET $PRESET ($world GPUs x ${split[0]} x accum ${split[1]} = 128)"
  "${launcher[@]}" llava/train/train.py --deepspeed configs/deepspeed/zero3.json "${common[@]}" --version v1 \
    --data_path "$DATA" --image_folder "$IMAGES" --pretrain_mm_mlp_adapter "$projector" \
    --image_aspect_ratio pad --group_by_modality_length True \
    --per_device_train_batch_size "${split[0]}" --gradient_accumulation_steps "${split[1]}" \
    --learning_rate 2e-5 --save_steps 50000 --output_dir "$output"
}

if [[ -n "${MODEL:-}" ]]; then
  run_paper
else
  run_demo
fi
