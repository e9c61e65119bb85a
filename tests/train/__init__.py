"""Training pipeline tests (tiny models on CPU; DeepSpeed runs are marked `deepspeed`)."""
