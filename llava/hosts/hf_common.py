"""What transformers' LLaVA-family classes share as DUET hosts: the setting, the decode step and the prefill.

`DuetLlavaForConditionalGeneration` and `DuetVideoLlavaForConditionalGeneration` differ only in how they turn
pixels into features per placeholder kind (images; images and video frames). Everything after that — packing the
placeholders, resolving the T2V queries, running the engine over the language model, logits and loss on the kept
positions, and the decode step on the `DuetCache` — is this mixin, so the two hosts cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers.cache_utils import Cache

from duet import engine
from duet.cache import DuetCache
from duet.config import DuetConfig
from duet.queries import resolve_queries
from llava.hosts.llama_decoder import LlamaDecoderAdapter, check_llama_decoder
from llava.hosts.outputs import causal_lm_loss, engine_layer_kwargs
from llava.hosts.placeholders import PlaceholderKind, pack_visual_placeholders


class DuetHfHost:
    """Mixed into a subclass of a transformers LLaVA-family model whose language model is a `LlamaModel`.

    The subclass names the class it adopts (``duet_adopted_from``) and provides its placeholder kinds.
    """

    duet_adopted_from: type

    @property
    def duet(self) -> DuetConfig | None:
        """The active setting, stored in ``config.duet`` (so it is saved and reloaded with the checkpoint)."""
        stored = getattr(self.config, "duet", None)
        return DuetConfig.from_dict(stored) if stored else None

    def enable_duet(self, config: DuetConfig | None) -> None:
        """Validate the model's layout for ``config`` and store it in ``config.duet`` (None turns DUET off)."""
        if config is not None:
            host = self.duet_adopted_from.__name__
            if config.v2v_enabled and not isinstance(self.config.vision_feature_layer, int):
                raise ValueError(
                    f"duet.apply({host}): vision_feature_layer={self.config.vision_feature_layer!r} concatenates "
                    "several layers; V2V ranks the patches of one select layer. Use a single vision_feature_layer "
                    "(LLaVA-1.5: -2)."
                )
            if config.t2v_enabled:
                check_llama_decoder(self.model.language_model, host)
        self.config.duet = config.to_dict() if config is not None else None

    def _duet_forward(
        self,
        duet: DuetConfig,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        cache: Cache | None,
        inputs_embeds: torch.Tensor | None,
        labels: torch.Tensor | None,
        use_cache: bool | None,
        logits_to_keep: int | torch.Tensor,
        t2v_query_mask: torch.Tensor | None,
        kinds: Callable[[], Sequence[PlaceholderKind]],
        output_class: type,
        kwargs: dict,
    ):
        """A DUET decode step, or a prefill / training step: pack ``kinds()``, run the engine, logits and loss."""
        decoder = LlamaDecoderAdapter(self.model.language_model)
        if cache is not None and cache.get_seq_length() > 0:
            if not isinstance(cache, DuetCache):
                raise ValueError("A DUET decode step needs the DuetCache its prefill returned (`outputs.cache`).")
            hidden = self.model.get_input_embeddings()(input_ids) if inputs_embeds is None else inputs_embeds
            hidden = engine.decode(decoder, hidden, attention_mask, position_ids, cache, **engine_layer_kwargs(kwargs))
            return output_class(logits=self.lm_head(hidden), cache=cache)
        if input_ids is None:
            raise ValueError("Under DUET, pass input_ids (the placeholders locate the images), not inputs_embeds.")
        if use_cache is None:
            use_cache = bool(self.config.text_config.use_cache) and not self.training
        embeds = self.model.get_input_embeddings()(input_ids)
        packed = pack_visual_placeholders(input_ids, attention_mask, labels, t2v_query_mask, embeds, kinds())
        queries = (
            resolve_queries(duet.query, packed.visual, packed.valid, packed.labels, packed.marked)
            if duet.t2v_enabled
            else torch.zeros_like(packed.valid)  # no T2V stage reads them (V2V-only presets such as visionzip:*)
        )
        batch = engine.PrefillBatch(
            hidden=packed.hidden,
            valid=packed.valid,
            visual=packed.visual,
            queries=queries,
            labels=packed.labels,
            position_ids=packed.position_ids,
            shape=packed.shape,
            input_length=input_ids.shape[1],
            pack_shift=packed.pack_shift,
        )
        out = engine.prefill(decoder, duet, batch, use_cache=bool(use_cache), **engine_layer_kwargs(kwargs))
        hidden = out.hidden[:, -logits_to_keep:] if isinstance(logits_to_keep, int) and logits_to_keep else out.hidden
        logits = self.lm_head(hidden)
        return output_class(
            loss=causal_lm_loss(self.loss_function, logits, out.targets, self.config.text_config.vocab_size, kwargs),
            logits=logits,
            cache=out.cache,
            kept_index=out.kept_index,
            kept_valid=out.kept_valid,
            t2v_keep_masks=out.keep_masks,
            visual_token_mask=packed.visual,
        )

    def _empty_features(self) -> torch.Tensor:
        """(0, 0, hidden): the features of a placeholder kind with no input (e.g. no image in the batch)."""
        return torch.zeros(0, 0, self.config.text_config.hidden_size, device=self.device, dtype=self.dtype)
