"""The LLaVA decoder: transformers' `LlamaModel` plus LLaVA's vision tower and projector.

`LlavaLlamaModel` adds modules, not behaviour: its `forward` is `LlamaModel.forward`, so with DUET off the model
reproduces Llama exactly. DUET's T2V stages run the same layers through the engine (`duet.engine`), driven by
`LlavaLlamaForCausalLM` with a `LlamaDecoderAdapter` over this module.
"""

import torch
from transformers import LlamaModel

from duet.config import DuetConfig
from llava.model.configuration_llava import LlavaConfig
from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower
from llava.model.multimodal_projector.builder import build_vision_projector
from llava.model.state_dict_io import load_weight_file, strip_prefix


class LlavaLlamaModel(LlamaModel):
    """The Llama decoder plus LLaVA's vision tower and projector (`model.vision_tower`, `model.mm_projector`)."""

    config: LlavaConfig
    # LLaVA checkpoints may hold tower weights, but the tower is always (re)loaded from `mm_vision_tower`.
    _keys_to_ignore_on_load_unexpected = [r"vision_tower\."]

    def __init__(self, config: LlavaConfig) -> None:
        super().__init__(config)
        self.vision_tower: CLIPVisionTower | None = None
        self.mm_projector: torch.nn.Module | None = None
        if config.mm_vision_tower is not None:
            self.vision_tower = CLIPVisionTower(
                config.mm_vision_tower,
                select_layer=config.mm_vision_select_layer,
                select_feature=config.mm_vision_select_feature,
                delay_load=True,
            )
            if config.mm_hidden_size is None:
                raise ValueError("The config names `mm_vision_tower` but not `mm_hidden_size` (the tower's width).")
            self.mm_projector = build_vision_projector(config.mm_projector_type, config.mm_hidden_size, config.hidden_size)
        self.duet: DuetConfig | None = DuetConfig.from_dict(config.duet) if config.duet else None
        self.post_init()

    def attach_vision_modules(
        self,
        vision_tower: str,
        select_layer: int = -2,
        select_feature: str = "patch",
        projector_type: str = "linear",
        pretrain_mm_mlp_adapter: str | None = None,
        attn_implementation: str = "sdpa",
    ) -> None:
        """Give a language-only model LLaVA's vision path (LLaVA's `initialize_vision_modules`, for training).

        Loads the CLIP tower from `vision_tower`, builds a fresh projector (or loads `mm_projector.bin` from
        pretraining), and records the `mm_*` fields in the config so that the saved checkpoint is a LLaVA one.
        """
        tower = CLIPVisionTower(vision_tower, select_layer, select_feature, delay_load=True, attn_implementation=attn_implementation)
        tower.load_model()
        self.vision_tower = tower
        self.config.mm_vision_tower = vision_tower
        self.config.mm_vision_select_layer = select_layer
        self.config.mm_vision_select_feature = select_feature
        self.config.mm_projector_type = projector_type
        self.config.mm_hidden_size = tower.hidden_size
        self.config.use_mm_proj = True
        self.mm_projector = build_vision_projector(projector_type, tower.hidden_size, self.config.hidden_size).to(
            dtype=self.embed_tokens.weight.dtype, device=self.embed_tokens.weight.device
        )
        if pretrain_mm_mlp_adapter is not None:
            weights = strip_prefix(load_weight_file(pretrain_mm_mlp_adapter), "model.mm_projector.")
            if not weights:
                raise ValueError(f"{pretrain_mm_mlp_adapter} holds no `model.mm_projector.*` weights.")
            self.mm_projector.load_state_dict(weights, strict=True)
