#!/usr/bin/env bash
# DUET-VLM training: a complete CPU demo with no arguments, or LLaVA-1.5-7B finetuning under DUET on GPUs.
#
# DEMO (no MODEL set) — about 5 minutes on 2 CPU cores (4m49s measured, idle machine), less on a GPU:
#     bash scripts/finetune_duet.sh                 # DUET 192 (67 % fewer visual tokens)
#     PRESET=64 bash scripts/finetune_duet.sh       # DUET 64  (89 % fewer); 128 (78 %) also works, as do 67/78/89
#   1. builds a tiny random Vicuna-like LLM and CLIP tower from configs/tiny/ under $OUTPUT/base;
#   2. draws (or reuses) the synthetic shape dataset in playground/data/demo (see playground/data/README.md);
#   3. pretrains the projector (LLaVA stage 1: --version plain --tune_mm_mlp_adapter True);
#   4. finetunes twice from that projector with the same data and steps (LLaVA stage 2: --version v1): a
#      baseline with all 256 visual tokens, and one with DUET at the demo-scale preset (llava/demo/presets.py);
#   5. evaluates both on held-out images and prints accuracy per question type next to chance and a
#      shuffled-image control, with each finetune's wall time and the speed ratio.
#   Knobs (environment, defaults): OUTPUT (checkpoints/demo), DATA_DIR (playground/data/demo), PRESET (192),
#   SEED (0), TRAIN_IMAGES (3000), EVAL_IMAGES (100), PRETRAIN_STEPS (30), FINETUNE_STEPS (400), BATCH_SIZE (8),
#   PRETRAIN_LR (1e-3, cosine), FINETUNE_LR (1e-3, constant after warmup: the tiny model starts reading the image
#   only after ~250 steps at full learning rate; with a cosine decay over 300 steps it never left the text prior).
#
# PAPER SETTING (MODEL set) — LLaVA-1.5's finetune recipe (ZeRO-3, lr 2e-5 cosine, global batch 128, 1 epoch, bf16,
# activation checkpointing, pad, group_by_modality_length) under the DUET preset llava-1.5:$PRESET, via deepspeed:
#     MODEL=lmsys/vicuna-7b-v1.5 DATA=playground/data/llava_v1_5_mix665k.json IMAGES=playground/data \
#     VISION_TOWER=openai/clip-vit-large-patch14-336 PRETRAINED_PROJECTOR=.../mm_projector.bin \
#     PRESET=128 [NUM_GPUS=8] [HOSTFILE=hostfile] bash scripts/finetune_duet.sh [extra train.py flags...]
#   Without PRETRAINED_PROJECTOR (or PRETRAIN, the other scripts' name), stage 1 runs first through
#   scripts/pretrain_duet.sh under the same preset (the paper trains both stages with DUET) on PRETRAIN_DATA /
#   PRETRAIN_IMAGES (LLaVA-558K under playground/data/LLaVA-Pretrain by default) into $OUTPUT-pretrain.
#   NUM_GPUS is per node (8); HOSTFILE lists the nodes. Gradient accumulation is GLOBAL_BATCH (128) /
#   (PER_DEVICE_BATCH x GPUs), so the global batch holds on any GPU count (scripts/_deepspeed_launch.sh);
#   PER_DEVICE_BATCH defaults to LLaVA's 16, halved when there are more than 8 GPUs.
#   Other knobs: OUTPUT (checkpoints/llava-v1.5-7b-duet$PRESET), T2V_QUERY (the preset's; `instruction` is what the
#   authors' training scripts ran), BF16 (True), TF32 (unset; True on NVIDIA Ampere+ only), REPORT_TO (wandb,
#   offline without credentials), NUM_WORKERS (4), MASTER_PORT (29500), ON_BAD_DATA (truncate: entries longer than
#   the 2048-position context are listed by id and count and trained on cut there, as LLaVA does; any other bad
#   entry stops the run before the model loads; refuse / skip as in train.py's --on_bad_data; stage 1 gets it too).
#
# Python: the active environment's; with none active, the repository's .venv (created by the README's install
# command) when it exists. Everything written goes under checkpoints/ and playground/data/ (git-ignored).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
if [[ -z "${VIRTUAL_ENV:-}" && -x .venv/bin/python ]]; then
  export PATH="$REPO_ROOT/.venv/bin:$PATH"  # python and deepspeed from the repository's environment
fi
PRESET="$(python -m llava.demo.presets --canonical "${PRESET:-192}")"
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
  python -m llava.demo.base_models --out "$output/base" --image_size 224 --seed "$SEED"
  local llm="$output/base/tiny-vicuna" clip="$output/base/tiny-clip-224"  # save_tiny_base_models' folder names
  if [[ ! -d "$llm" || ! -d "$clip" ]]; then
    echo "error: expected $llm and $clip after building the base models." >&2
    exit 1
  fi

  banner "2/6 synthetic shape data -> $data"
  python -m llava.demo.make_data --out "$data" --seed "$SEED" \
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
  python llava/train/train.py "${common[@]}" --version plain --tune_mm_mlp_adapter True \
    --data_path "$data/pretrain.json" --max_steps "${PRETRAIN_STEPS:-30}" --lr_scheduler_type cosine \
    --learning_rate "${PRETRAIN_LR:-1e-3}" --output_dir "$output/pretrain"

  local finetune=(
    "${common[@]}" --version v1 --pretrain_mm_mlp_adapter "$output/pretrain/mm_projector.bin"
    --data_path "$data/instruct.json" --image_aspect_ratio pad --group_by_modality_length True
    --max_steps "${FINETUNE_STEPS:-400}" --learning_rate "${FINETUNE_LR:-1e-3}" --lr_scheduler_type constant_with_warmup
  )
  local label baseline_label="baseline: all 256 visual tokens"
  label="$(python -m llava.demo.presets --describe "$PRESET")"
  local duet_flags; read -r -a duet_flags <<<"$(python -m llava.demo.presets --train_flags "$PRESET")"

  banner "4/6 finetune the baseline (stage 2: all 256 visual tokens)"
  local t0; t0=$(now_ms)
  python llava/train/train.py "${finetune[@]}" --output_dir "$output/finetune-baseline"
  local baseline_seconds; baseline_seconds=$(seconds_since "$t0")

  banner "5/6 finetune with $label"
  t0=$(now_ms)
  python llava/train/train.py "${finetune[@]}" "${duet_flags[@]}" --output_dir "$output/finetune-duet-$PRESET"
  local duet_seconds; duet_seconds=$(seconds_since "$t0")

  banner "6/6 evaluate on held-out images (own images, then shuffled images)"
  local evaluate=(-m llava.demo.evaluate --question-file "$data/eval.jsonl" --image-folder "$data" --seed "$SEED")
  python "${evaluate[@]}" --model-path "$output/finetune-baseline" --duet none \
    --results-file "$output/eval-baseline.json" --answers-file "$output/answers-baseline.jsonl"
  python "${evaluate[@]}" --model-path "$output/finetune-duet-$PRESET" --duet checkpoint \
    --results-file "$output/eval-duet-$PRESET.json" --answers-file "$output/answers-duet-$PRESET.jsonl"

  banner "results (seed $SEED, $(seconds_since "$started") s in total)"
  python -m llava.demo.report --out "$output/results-duet-$PRESET.txt" \
    --run "$baseline_label=$output/eval-baseline.json" --wall "$baseline_label=$baseline_seconds" \
    --run "$label=$output/eval-duet-$PRESET.json" --wall "$label=$duet_seconds"
}

# ----------------------------------------------------------------------------------------------- paper setting
run_paper() {
  : "${DATA:?set DATA to the finetuning JSON, e.g. playground/data/llava_v1_5_mix665k.json}"
  : "${IMAGES:?set IMAGES to the image root, e.g. playground/data}"
  : "${VISION_TOWER:?set VISION_TOWER, e.g. openai/clip-vit-large-patch14-336}"
  local output="${OUTPUT:-checkpoints/llava-v1.5-7b-duet$PRESET}"
  local projector="${PRETRAINED_PROJECTOR:-${PRETRAIN:-}}"
  if [[ -z "$projector" ]]; then
    banner "stage 1: scripts/pretrain_duet.sh $PRESET (projector pretraining under DUET) -> $output-pretrain"
    env -u GLOBAL_BATCH -u PER_DEVICE_BATCH OUTPUT="$output-pretrain" \
      DATA="${PRETRAIN_DATA:-playground/data/LLaVA-Pretrain/blip_laion_cc_sbu_558k.json}" \
      IMAGES="${PRETRAIN_IMAGES:-playground/data/LLaVA-Pretrain/images}" \
      bash scripts/pretrain_duet.sh "$PRESET" "$@"
    projector="$output-pretrain/mm_projector.bin"
  fi
  [[ -f "$projector" ]] || { echo "error: projector $projector does not exist." >&2; exit 2; }

  GLOBAL_BATCH="${GLOBAL_BATCH:-128}"
  if [[ -z "${PER_DEVICE_BATCH:-}" ]]; then
    # LLaVA's 16 per GPU, halved while the GPUs alone would exceed the global batch (e.g. 8 on 2 nodes x 8 GPUs).
    local nodes="${NUM_NODES:-1}"
    [[ -n "${HOSTFILE:-}" && -z "${NUM_NODES:-}" ]] && nodes="$(grep -cvE '^[[:space:]]*(#|$)' "$HOSTFILE")"
    PER_DEVICE_BATCH=16
    while (( PER_DEVICE_BATCH > 1 && PER_DEVICE_BATCH * ${NUM_GPUS:-8} * nodes > GLOBAL_BATCH )); do
      PER_DEVICE_BATCH=$(( PER_DEVICE_BATCH / 2 ))
    done
  fi
  # shellcheck source=scripts/_deepspeed_launch.sh
  source scripts/_deepspeed_launch.sh  # NUM_NODES, GRAD_ACCUM (global batch kept for any GPU count), LAUNCHER
  local optional=()
  [[ -n "${T2V_QUERY:-}" ]] && optional+=(--t2v_query "$T2V_QUERY")
  [[ -n "${TF32:-}" ]] && optional+=(--tf32 "$TF32")

  banner "stage 2: finetune under DUET llava-1.5:$PRESET on $NUM_NODES node(s) x $NUM_GPUS GPU(s):" \
    "per-device batch $PER_DEVICE_BATCH x accumulation $GRAD_ACCUM = global $GLOBAL_BATCH -> $output"
  "${LAUNCHER[@]}" llava/train/train_mem.py \
    --deepspeed configs/deepspeed/zero3.json \
    --model_name_or_path "$MODEL" \
    --version v1 \
    --data_path "$DATA" \
    --image_folder "$IMAGES" \
    --vision_tower "$VISION_TOWER" \
    --pretrain_mm_mlp_adapter "$projector" \
    --mm_projector_type mlp2x_gelu \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    --image_aspect_ratio pad \
    --group_by_modality_length True \
    --duet_preset "llava-1.5:$PRESET" \
    --bf16 "${BF16:-True}" \
    --output_dir "$output" \
    --num_train_epochs 1 \
    --per_device_train_batch_size "$PER_DEVICE_BATCH" \
    --per_device_eval_batch_size 4 \
    --gradient_accumulation_steps "$GRAD_ACCUM" \
    --eval_strategy no \
    --save_strategy steps \
    --save_steps 50000 \
    --save_total_limit 1 \
    --learning_rate 2e-5 \
    --weight_decay 0. \
    --warmup_steps 0.03 \
    --lr_scheduler_type cosine \
    --logging_steps 1 \
    --model_max_length 2048 \
    --activation_checkpointing True \
    --dataloader_num_workers "${NUM_WORKERS:-4}" \
    --lazy_preprocess True \
    --report_to "${REPORT_TO:-wandb}" \
    --on_bad_data "${ON_BAD_DATA:-truncate}" \
    ${optional[@]+"${optional[@]}"} \
    "$@"
}

if [[ -n "${MODEL:-}" ]]; then
  run_paper "$@"
elif (( $# > 0 )); then
  echo "error: the demo takes no arguments (knobs are environment variables; see the header of $0)." >&2
  exit 2
else
  run_demo
fi
