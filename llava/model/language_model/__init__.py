"""LLaVA language-model heads."""
