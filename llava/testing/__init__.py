"""Test fixtures that need no download: a tiny Vicuna-style tokenizer (tiny model configs are in configs/tiny)."""

from llava.testing.tiny_tokenizer import build_tiny_tokenizer

__all__ = ["build_tiny_tokenizer"]
