#!/usr/bin/env bash
# DUET-VLM training: a complete CPU demo with no arguments, or LLaVA-1.5-7B finetuning under DUET on GPUs.
#
# DEMO (no MODEL set): the paper's claim in miniature, in under 8 minutes on an idle 2-core CPU, less on a GPU:
#     bash scripts/finetune_duet.sh                 # baseline vs DUET 192 (67 % fewer tokens) and DUET 64 (89 %)
#     PRESET=64 bash scripts/finetune_duet.sh       # the same runs, DUET 64 as the headline (`duet` in results.json)
#     SEEDS=0,1,2 bash scripts/finetune_duet.sh     # every number as mean ± sd over three seeds
#   For each seed, under $OUTPUT/seed-<seed>/:
#   1. builds a tiny random Vicuna-like LLM and CLIP tower from configs/tiny/ (base/);
#   2. pretrains the CLIP tower on synthetic shapes (llava/demo/tower.py), so that its features name what a patch
#      shows and its CLS attention, which V2V ranks patches by, falls on the objects, as CLIP's own pretraining
#      does for the real tower; cached in $TOWER_CACHE, so a second run skips it;
#   3. draws (or reuses) the synthetic shape dataset in $DATA_DIR/seed-<seed> (see playground/data/README.md);
#   4. pretrains the projector (LLaVA stage 1: --version plain --tune_mm_mlp_adapter True);
#   5. finetunes from that projector with the same data and steps (LLaVA stage 2: --version v1): a baseline
#      with all 256 visual tokens, then DUET 192 and DUET 64 at demo scale (llava/demo/presets.py);
#   6. evaluates every model on held-out images, with its own and with shuffled images.
#   Then one table (accuracy per question type, share of the baseline kept, train-loop time and speed-up, the
#   paper's numbers alongside, chance and shuffled controls), $OUTPUT/results.json, and pictures in $OUTPUT:
#   trace-duet-*.png (patches kept by V2V and each T2V stage, as `duet show` draws them), accuracy.png, loss.png.
#   Knobs (environment, defaults): OUTPUT (checkpoints/demo), DATA_DIR (playground/data/demo), TOWER_CACHE
#   (checkpoints/towers), PRESET (192; 128 adds a row), SEED (0) or SEEDS (comma-separated), TRAIN_IMAGES (6000),
#   EVAL_IMAGES (250), TOWER_STEPS (600), TOWER_SCENES (2048), PRETRAIN_STEPS (30), FINETUNE_STEPS (400),
#   BATCH_SIZE (16), PRETRAIN_LR (1e-3, cosine), FINETUNE_LR (1.5e-3: warmup, constant, then a linear decay over
#   the last 2/7 of the steps; a constant rate left the final checkpoint up to 0.1 off its neighbours).
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
quiet_demo_environment() {
  # Messages a demo user cannot act on: transformers' notices (no torchvision, LLaMA weights into LLaVA), its
  # weight-loading bars, DeepSpeed's "no GPU found" on a CPU machine. Errors still print.
  export TRANSFORMERS_VERBOSITY="${TRANSFORMERS_VERBOSITY:-error}" HF_HUB_DISABLE_PROGRESS_BARS=1
  if [[ -z "${DS_ACCELERATOR:-}" ]] && ! { nvidia-smi -L || rocm-smi; } >/dev/null 2>&1; then
    export DS_ACCELERATOR=cpu
  fi
}

# train.py as LLaVA runs it; the Trainer's per-log loss dicts (kept in trainer_state.json, drawn in loss.png)
# are left out of the terminal so that each stage shows one progress bar.
demo_train() { python llava/train/train.py "$@" | sed -u "/^{'/d"; }

run_demo_seed() {
  local seed=$1 output=$2 data="$3/seed-$1" run
  local out="$output/seed-$seed" batch="${BATCH_SIZE:-16}" steps="${FINETUNE_STEPS:-400}"
  mkdir -p "$out"

  banner "seed $seed: 1/6 tiny base models (configs/tiny) -> $out/base"
  python -m llava.demo.base_models --out "$out/base" --image_size 224 --seed "$seed"
  local llm="$out/base/tiny-vicuna" cache="${TOWER_CACHE:-checkpoints/towers}" tower

  banner "seed $seed: 2/6 pretrain the CLIP tower on shapes, as CLIP is pretrained (cached in $cache)"
  tower="$(python -m llava.demo.tower --base "$out/base/tiny-clip-224" --cache "$cache" --seed "$seed" \
    --steps "${TOWER_STEPS:-600}" --train_scenes "${TOWER_SCENES:-2048}")"

  banner "seed $seed: 3/6 synthetic shape data -> $data"
  python -m llava.demo.make_data --out "$data" --seed "$seed" \
    --train_images "${TRAIN_IMAGES:-6000}" --eval_images "${EVAL_IMAGES:-250}" --turns 4 --text_only_fraction 0.1

  local common=(
    --model_name_or_path "$llm" --vision_tower "$tower" --image_folder "$data"
    --mm_vision_select_layer -2 --mm_projector_type mlp2x_gelu
    --mm_use_im_start_end False --mm_use_im_patch_token False
    --per_device_train_batch_size "$batch" --gradient_accumulation_steps 1
    --warmup_steps 0.03 --weight_decay 0.
    --model_max_length 512 --logging_steps 10 --save_strategy no --report_to none
    --dataloader_num_workers 0 --dataloader_pin_memory False --disable_tqdm False --seed "$seed"
  )

  banner "seed $seed: 4/6 pretrain the projector (stage 1: plain captions, projector only)"
  demo_train "${common[@]}" --version plain --tune_mm_mlp_adapter True \
    --data_path "$data/pretrain.json" --max_steps "${PRETRAIN_STEPS:-30}" --lr_scheduler_type cosine \
    --learning_rate "${PRETRAIN_LR:-1e-3}" --output_dir "$out/pretrain"

  local finetune=(
    "${common[@]}" --version v1 --pretrain_mm_mlp_adapter "$out/pretrain/mm_projector.bin"
    --data_path "$data/instruct.json" --image_aspect_ratio pad --group_by_modality_length True
    --max_steps "$steps" --learning_rate "${FINETUNE_LR:-1.5e-3}" --lr_scheduler_type warmup_stable_decay
    --lr_scheduler_kwargs "{\"num_decay_steps\": $(( steps * 2 / 7 ))}"
  )
  banner "seed $seed: 5/6 finetune (stage 2) the baseline with all 256 visual tokens"
  demo_train "${finetune[@]}" --output_dir "$out/finetune-baseline"
  local checkpoints=("$out/finetune-baseline") duet_flags
  for run in "${DEMO_RUNS[@]}"; do
    banner "seed $seed: 5/6 finetune (stage 2) with $(python -m llava.demo.presets --describe "$run")"
    read -r -a duet_flags <<<"$(python -m llava.demo.presets --train_flags "$run")"
    demo_train "${finetune[@]}" "${duet_flags[@]}" --output_dir "$out/finetune-duet-$run"
    checkpoints+=("$out/finetune-duet-$run")
  done

  banner "seed $seed: 6/6 evaluate on held-out images (own images, then shuffled images)"
  local evaluate=(-m llava.demo.evaluate --question-file "$data/eval.jsonl" --image-folder "$data" --seed "$seed")
  for run in "${checkpoints[@]}"; do evaluate+=(--model-path "$run"); done
  python "${evaluate[@]}" --results-dir "$out"
}

run_demo() {
  local output="${OUTPUT:-checkpoints/demo}" data_root="${DATA_DIR:-playground/data/demo}" seed
  local started; started=$(now_ms)
  local seeds; IFS=',' read -r -a seeds <<<"${SEEDS:-${SEED:-0}}"
  # DUET 192 and 64 always (the paper's lightest and heaviest settings), and the chosen preset if it is another.
  DEMO_RUNS=(192 64)
  [[ "$PRESET" != 192 && "$PRESET" != 64 ]] && DEMO_RUNS=(192 "$PRESET" 64)
  quiet_demo_environment
  mkdir -p "$output"
  for seed in "${seeds[@]}"; do
    run_demo_seed "$seed" "$output" "$data_root"
  done
  banner "results (${#seeds[@]} seed(s), $(seconds_since "$started") s in total)"
  python -m llava.demo.results --output "$output" --seeds "$(IFS=,; echo "${seeds[*]}")" --preset "$PRESET" \
    --wall-seconds "$(seconds_since "$started")"
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
