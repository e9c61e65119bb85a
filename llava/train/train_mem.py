"""LLaVA's launcher name: `deepspeed llava/train/train_mem.py ...` runs the same job as `train.py`.

LLaVA's `train_mem.py` hard-coded `flash_attention_2`; here the kernel is `--attn_implementation` (sdpa by
default), which also runs on AMD ROCm and on machines without flash-attn.
"""

import sys

from llava.train.train import train

if __name__ == "__main__":
    train(sys.argv[1:])
