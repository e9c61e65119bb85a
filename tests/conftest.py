"""Test-wide environment: no network for W&B, DeepSpeed on the CPU accelerator, a cached JIT build folder.

Set with `setdefault` so a developer can still override any of them from the shell. Subprocesses started by
tests (the `deepspeed` launcher) inherit them.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO_ROOT / ".cache" / "torch_extensions"))
