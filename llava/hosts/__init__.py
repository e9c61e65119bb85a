"""DUET hosts: the adapter over transformers' Llama decoder, and transformers' own LLaVA classes as DUET models."""
