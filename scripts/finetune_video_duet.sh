#!/usr/bin/env bash
# DUET-VLM on Video-LLaVA-7B, stage 2: visual instruction tuning on mixed image, video and text data under a DUET
# video preset, Video-LLaVA's recipe (its scripts/v1_5/finetune.sh; finetune_lora.sh with LORA=1).
#
#   bash scripts/finetune_video_duet.sh [PRESET] [extra train_video.py flags...]
#
# PRESET = 960 | 136 (layer-averaged visual tokens per video; video-llava:960 keeps 53.1 %, video-llava:136 93.4 %
# fewer than 8 x 256), default 960. Recipe: Vicuna-7B + the stage-1 projector, LanguageBind_Image and
# LanguageBind_Video_merge towers (frozen; temporal attention on), 8 frames, v1 template, Video-LLaVA's three data
# files (llava_image_tune_ + videochatgpt_tune_ + nlp_tune), pad aspect ratio, modality-grouped batches, LR 2e-5
# cosine (LoRA: r=128, alpha=256, LR 2e-4, projector 2e-5), 3 % warmup, no weight decay, global batch 128, model max
# length 2048 with a 3072-position context for the spliced sequence (a video is 8 x 257 = 2056 positions), bf16,
# activation checkpointing, ZeRO-2. Data entries: {"id", "video": "rel/path.mp4" | "image": "rel/path.jpg",
# "conversations": [{"from": "human", "value": "<video>\n..."}, {"from": "gpt", ...}]} (Video-LLaVA's format).
# The output loads with `load_pretrained_model(OUTPUT)` (LoRA: `model_base=MODEL`).
#
# Environment overrides (defaults in brackets):
#   MODEL [lmsys/vicuna-7b-v1.5]   JSON_FOLDER [./playground/data/llava_all_image_video/ft_json]
#   DATA ["$JSON_FOLDER/llava_image_tune_.json $JSON_FOLDER/videochatgpt_tune_.json $JSON_FOLDER/nlp_tune.json"]
#   IMAGE_FOLDER / VIDEO_FOLDER [./playground/data/llava_all_image_video]
#   IMAGE_TOWER [LanguageBind/LanguageBind_Image]   VIDEO_TOWER [LanguageBind/LanguageBind_Video_merge]
#   PRETRAIN [./checkpoints/videollava-7b-duet$PRESET-pretrain/mm_projector.bin]
#   OUTPUT [./checkpoints/videollava-7b-duet$PRESET, -lora with LORA=1]   LORA [unset; 1 = LoRA finetuning]
#   NUM_GPUS [8] per node; NUM_NODES [1, or the host count of HOSTFILE]; HOSTFILE [unset] for multi-node
#   GLOBAL_BATCH [128] and PER_DEVICE_BATCH [16]: gradient accumulation = GLOBAL_BATCH / (PER_DEVICE_BATCH x GPUs),
#   so the global batch holds on any GPU count (an error if it does not divide).
#   DEEPSPEED_CONFIG [./configs/deepspeed/zero2.json]   T2V_QUERY [the preset's: last]   TEMPORAL_ATTENTION [unset;
#   False trains without it, as the authors' code ran]   BF16 [True]   TF32 [unset; True on NVIDIA Ampere+ only]
#   MASTER_PORT [29500]   NUM_WORKERS [4]   REPORT_TO [wandb]
set -euo pipefail

PRESET="${1:-${PRESET:-960}}"
if [[ $# -gt 0 ]]; then shift; fi
case "$PRESET" in
  960|136) ;;
  *) echo "PRESET must be 960 or 136 (video-llava:960 / video-llava:136), got '$PRESET'." >&2; exit 2 ;;
esac

MODEL="${MODEL:-lmsys/vicuna-7b-v1.5}"
JSON_FOLDER="${JSON_FOLDER:-./playground/data/llava_all_image_video/ft_json}"
read -r -a DATA_FILES <<< "${DATA:-$JSON_FOLDER/llava_image_tune_.json $JSON_FOLDER/videochatgpt_tune_.json $JSON_FOLDER/nlp_tune.json}"
IMAGE_FOLDER="${IMAGE_FOLDER:-./playground/data/llava_all_image_video}"
VIDEO_FOLDER="${VIDEO_FOLDER:-./playground/data/llava_all_image_video}"
PRETRAIN="${PRETRAIN:-./checkpoints/videollava-7b-duet${PRESET}-pretrain/mm_projector.bin}"
[[ -f "$PRETRAIN" ]] || { echo "PRETRAIN=$PRETRAIN does not exist; pretrain the projector first (stage 1)." >&2; exit 2; }
GLOBAL_BATCH="${GLOBAL_BATCH:-128}"
PER_DEVICE_BATCH="${PER_DEVICE_BATCH:-16}"
source "$(dirname "${BASH_SOURCE[0]}")/_deepspeed_launch.sh"

RECIPE=(--learning_rate 2e-5)
OUTPUT="${OUTPUT:-./checkpoints/videollava-7b-duet${PRESET}}"
if [[ -n "${LORA:-}" ]]; then
  RECIPE=(--lora_enable True --lora_r 128 --lora_alpha 256 --mm_projector_lr 2e-5 --learning_rate 2e-4)
  OUTPUT="${OUTPUT%-lora}-lora"
fi
OPTIONAL=()
[[ -n "${T2V_QUERY:-}" ]] && OPTIONAL+=(--t2v_query "$T2V_QUERY")
[[ -n "${TEMPORAL_ATTENTION:-}" ]] && OPTIONAL+=(--temporal_attention "$TEMPORAL_ATTENTION")
[[ -n "${TF32:-}" ]] && OPTIONAL+=(--tf32 "$TF32")

echo "DUET Video-LLaVA finetuning: preset video-llava:$PRESET, $NUM_NODES node(s) x $NUM_GPUS GPU(s), per-device" \
     "batch $PER_DEVICE_BATCH x accumulation $GRAD_ACCUM = global $GLOBAL_BATCH, output $OUTPUT" >&2

"${LAUNCHER[@]}" llava/train/train_video.py \
    "${RECIPE[@]}" \
    --deepspeed "${DEEPSPEED_CONFIG:-./configs/deepspeed/zero2.json}" \
    --model_name_or_path "$MODEL" \
    --version v1 \
    --data_path "${DATA_FILES[@]}" \
    --image_folder "$IMAGE_FOLDER" \
    --image_tower "${IMAGE_TOWER:-LanguageBind/LanguageBind_Image}" \
    --video_folder "$VIDEO_FOLDER" \
    --video_tower "${VIDEO_TOWER:-LanguageBind/LanguageBind_Video_merge}" \
    --num_frames 8 \
    --mm_projector_type mlp2x_gelu \
    --pretrain_mm_mlp_adapter "$PRETRAIN" \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    --image_aspect_ratio pad \
    --group_by_modality_length True \
    --duet_preset "video-llava:$PRESET" \
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
    --weight_decay 0. \
    --warmup_steps 0.03 \
    --lr_scheduler_type cosine \
    --logging_steps 1 \
    --model_max_length 2048 \
    --tokenizer_model_max_length 3072 \
    --activation_checkpointing True \
    --dataloader_num_workers "${NUM_WORKERS:-4}" \
    --lazy_preprocess True \
    --report_to "${REPORT_TO:-wandb}" \
    ${OPTIONAL[@]+"${OPTIONAL[@]}"} \
    "$@"
