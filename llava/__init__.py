"""LLaVA-1.5 host for DUET-VLM."""
