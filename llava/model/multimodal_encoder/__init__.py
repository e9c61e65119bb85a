"""Vision backbones: LLaVA-1.5 reads features from a CLIP ViT."""
