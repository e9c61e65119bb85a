"""LLaVA-1.5 training with DUET-VLM: flags, data, data checks, trainer and the `train.py` entry point."""
