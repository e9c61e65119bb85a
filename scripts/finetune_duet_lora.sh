#!/usr/bin/env bash
# DUET-VLM stage 2 with LoRA: LLaVA-1.5 visual instruction tuning under DUET compression, LoRA on the LLM.
#
#   bash scripts/finetune_duet_lora.sh [PRESET] [extra train.py flags...]
#
# PRESET = 192 | 128 | 64 (layer-averaged visual tokens; 67 / 78 / 89 % fewer than LLaVA-1.5's 576), default 192.
# Hyper-parameters are LLaVA-1.5's scripts/v1_5/finetune_lora.sh (ecosystem §1.10) with DUET's preset: Vicuna-7B +
# the stage-1 projector, LoRA r=128 / alpha=256 on every LLM linear layer, projector trained at 2e-5, LR 2e-4
# cosine with 3 % warmup, no weight decay, v1 template, LLaVA-665K mix, pad aspect ratio, modality-grouped
# batches, global batch 128, context 2048, bf16, ZeRO-3. The output loads with
# `load_pretrained_model(OUTPUT, model_base=MODEL)`.
#
# Environment overrides (defaults in brackets):
#   MODEL [lmsys/vicuna-7b-v1.5]   DATA [./playground/data/llava_v1_5_mix665k.json]   IMAGES [./playground/data]
#   VISION_TOWER [openai/clip-vit-large-patch14-336]
#   PRETRAIN [./checkpoints/llava-v1.5-7b-duet$PRESET-pretrain/mm_projector.bin] (scripts/pretrain_duet.sh output)
#   OUTPUT [./checkpoints/llava-v1.5-7b-duet$PRESET-lora]
#   NUM_GPUS [8] GPUs per node; NUM_NODES [1, or the host count of HOSTFILE]; HOSTFILE [unset] for multi-node
#   GLOBAL_BATCH [128] and PER_DEVICE_BATCH [16]: gradient accumulation = GLOBAL_BATCH / (PER_DEVICE_BATCH x GPUs),
#   so the paper's global batch holds on any GPU count (an error if it does not divide).
#   T2V_QUERY [the preset's: salient] (instruction = the authors' released setting), BF16 [True],
#   TF32 [unset; pass True on NVIDIA Ampere+, never on AMD ROCm], MASTER_PORT [29500], NUM_WORKERS [4].
#   ON_BAD_DATA [truncate]: the startup data check lists every entry longer than the context (2048 positions, the
#   preset's N0 visual tokens included) by id and count and trains on it cut there, as LLaVA does; any other bad
#   entry (missing image, malformed record) stops the run before the model loads. refuse = stop on over-long
#   entries too; skip = drop every bad entry. Check a file beforehand with `python -m llava.train.check_data`.
#
# Multi-node: HOSTFILE holds one "hostname slots=N" line per node (passwordless ssh, same paths on every node).
# DeepSpeed forwards only NCCL*/PYTHON*/UCX* variables to remote nodes; put anything else (WANDB_*, HF_HOME, HSA_*)
# into a .deepspeed_env file. On SLURM see scripts/slurm/finetune_duet.slurm.
set -euo pipefail

PRESET="${1:-${PRESET:-192}}"
if [[ $# -gt 0 ]]; then shift; fi
case "$PRESET" in
  192|128|64) ;;
  *) echo "PRESET must be 192, 128 or 64 (67/78/89 % visual-token reduction), got '$PRESET'." >&2; exit 2 ;;
esac

MODEL="${MODEL:-lmsys/vicuna-7b-v1.5}"
DATA="${DATA:-./playground/data/llava_v1_5_mix665k.json}"
IMAGES="${IMAGES:-./playground/data}"
VISION_TOWER="${VISION_TOWER:-openai/clip-vit-large-patch14-336}"
PRETRAIN="${PRETRAIN:-./checkpoints/llava-v1.5-7b-duet${PRESET}-pretrain/mm_projector.bin}"
OUTPUT="${OUTPUT:-./checkpoints/llava-v1.5-7b-duet${PRESET}-lora}"
[[ -f "$PRETRAIN" ]] || { echo "PRETRAIN=$PRETRAIN does not exist; run scripts/pretrain_duet.sh $PRESET first." >&2; exit 2; }
GLOBAL_BATCH="${GLOBAL_BATCH:-128}"
PER_DEVICE_BATCH="${PER_DEVICE_BATCH:-16}"
source "$(dirname "${BASH_SOURCE[0]}")/_deepspeed_launch.sh"

OPTIONAL=()
[[ -n "${T2V_QUERY:-}" ]] && OPTIONAL+=(--t2v_query "$T2V_QUERY")
[[ -n "${TF32:-}" ]] && OPTIONAL+=(--tf32 "$TF32")

echo "DUET LoRA finetuning: preset llava-1.5:$PRESET, $NUM_NODES node(s) x $NUM_GPUS GPU(s), per-device batch" \
     "$PER_DEVICE_BATCH x accumulation $GRAD_ACCUM = global $GLOBAL_BATCH, output $OUTPUT"

"${LAUNCHER[@]}" llava/train/train_mem.py \
    --lora_enable True --lora_r 128 --lora_alpha 256 --mm_projector_lr 2e-5 \
    --deepspeed ./configs/deepspeed/zero3.json \
    --model_name_or_path "$MODEL" \
    --version v1 \
    --data_path "$DATA" \
    --image_folder "$IMAGES" \
    --vision_tower "$VISION_TOWER" \
    --pretrain_mm_mlp_adapter "$PRETRAIN" \
    --mm_projector_type mlp2x_gelu \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    --image_aspect_ratio pad \
    --group_by_modality_length True \
    --duet_preset "llava-1.5:$PRESET" \
    --bf16 "${BF16:-True}" \
    --output_dir "$OUTPUT" \
    --num_train_epochs 1 \
    --per_device_train_batch_size "$PER_DEVICE_BATCH" \
    --per_device_eval_batch_size 4 \
    --gradient_accumulation_steps "$GRAD_ACCUM" \
    --eval_strategy no \
    --save_strategy steps \
    --save_steps 50000 \
    --save_total_limit 1 \
    --learning_rate 2e-4 \
    --weight_decay 0. \
    --warmup_steps 0.03 \
    --lr_scheduler_type cosine \
    --logging_steps 1 \
    --model_max_length 2048 \
    --activation_checkpointing True \
    --dataloader_num_workers "${NUM_WORKERS:-4}" \
    --lazy_preprocess True \
    --report_to wandb \
    --on_bad_data "${ON_BAD_DATA:-truncate}" \
    ${OPTIONAL[@]+"${OPTIONAL[@]}"} \
    "$@"
