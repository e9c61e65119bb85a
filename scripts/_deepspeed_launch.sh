# Sourced by the DeepSpeed training scripts: node count, gradient accumulation that keeps the paper's global batch on
# any GPU count, and the launcher command. Callers set GLOBAL_BATCH / PER_DEVICE_BATCH defaults before sourcing.
# Sets NUM_GPUS, NUM_NODES, GRAD_ACCUM and the LAUNCHER array.
NUM_GPUS="${NUM_GPUS:-8}"
HOSTFILE="${HOSTFILE:-}"
if [[ -n "$HOSTFILE" ]]; then
  [[ -f "$HOSTFILE" ]] || { echo "HOSTFILE=$HOSTFILE does not exist." >&2; exit 2; }
  NUM_NODES="${NUM_NODES:-$(grep -cvE '^[[:space:]]*(#|$)' "$HOSTFILE")}"
else
  NUM_NODES="${NUM_NODES:-1}"
fi
WORLD=$((NUM_GPUS * NUM_NODES))
if (( GLOBAL_BATCH % (PER_DEVICE_BATCH * WORLD) != 0 )); then
  echo "GLOBAL_BATCH=$GLOBAL_BATCH is not divisible by PER_DEVICE_BATCH=$PER_DEVICE_BATCH x $WORLD GPUs;" \
       "change PER_DEVICE_BATCH (or GLOBAL_BATCH)." >&2
  exit 2
fi
GRAD_ACCUM=$((GLOBAL_BATCH / (PER_DEVICE_BATCH * WORLD)))
LAUNCHER=(deepspeed --num_gpus "$NUM_GPUS" --num_nodes "$NUM_NODES" --master_port "${MASTER_PORT:-29500}")
if [[ -n "$HOSTFILE" ]]; then LAUNCHER+=(--hostfile "$HOSTFILE"); fi
