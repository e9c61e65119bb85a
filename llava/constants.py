"""LLaVA's token-level constants, with LLaVA's exact values.

Datasets, checkpoints and eval question files written for LLaVA embed these strings and ids, so they must not
change: `-200` marks where the image features are spliced into `input_ids`, and `-100` is the label that
`torch.nn.CrossEntropyLoss` ignores.
"""

IGNORE_INDEX: int = -100
IMAGE_TOKEN_INDEX: int = -200
DEFAULT_IMAGE_TOKEN: str = "<image>"
DEFAULT_IMAGE_PATCH_TOKEN: str = "<im_patch>"
DEFAULT_IM_START_TOKEN: str = "<im_start>"
DEFAULT_IM_END_TOKEN: str = "<im_end>"
# Marks where `run_llava`-style prompts want the image; it is replaced by `DEFAULT_IMAGE_TOKEN` before tokenizing.
IMAGE_PLACEHOLDER: str = "<image-placeholder>"
