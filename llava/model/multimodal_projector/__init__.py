"""Projectors from vision features to the LLM's embedding space."""
