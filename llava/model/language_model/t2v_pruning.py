"""One T2V rank-and-drop step inside the decoder loop (DUET stage B), and the token bookkeeping around it.

After stage layer ℓ (1-indexed) the visual tokens are scored with the *next* layer's input norm, q/k projections and
rotary embedding, on the side (the main layers keep SDPA / flash attention), and only `int(N0·r)` of them stay.
Everything indexed by position — hidden states, the 2-D valid mask, position ids, the visual and query masks, and
the map back to the original positions (from which labels are gathered) — is gathered together, then re-padded on
the batch's padding side.
"""

from dataclasses import dataclass, replace

import torch
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, apply_rotary_pos_emb

from duet.t2v import keep_counts, kept_index, score_visual_tokens, select_kept_tokens


@dataclass
class TokenState:
    """Per-position tensors that must stay aligned while tokens are dropped. All are (B, L) except `hidden`."""

    hidden: torch.Tensor
    valid: torch.Tensor
    position_ids: torch.Tensor
    visual: torch.Tensor
    queries: torch.Tensor
    original_index: torch.Tensor

    def gather(self, index: torch.Tensor, new_valid: torch.Tensor) -> "TokenState":
        """Keep the positions in `index` (B, L'), padding slots marked invalid by `new_valid`."""

        def take(t: torch.Tensor) -> torch.Tensor:
            return t.gather(1, index) & new_valid if t.dtype == torch.bool else t.gather(1, index)

        hidden = self.hidden.gather(1, index.unsqueeze(-1).expand(-1, -1, self.hidden.shape[-1]))
        return TokenState(
            hidden=hidden,
            valid=new_valid,
            position_ids=take(self.position_ids),
            visual=take(self.visual),
            queries=take(self.queries),
            original_index=take(self.original_index),
        )


def compact_positions(valid: torch.Tensor) -> torch.Tensor:
    """Positions 0..n−1 over the valid tokens of each sample (the authors' re-indexing after a drop)."""
    return (valid.long().cumsum(dim=1) - 1).clamp(min=0).masked_fill(~valid, 0)


@torch.no_grad()
def score_with_next_layer(
    next_layer: LlamaDecoderLayer,
    state: TokenState,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """Attention that each sample's query rows pay every position, from `next_layer`'s q/k, as (B, L) fp32.

    Only the query rows are projected through `q_proj`; keys are projected for the whole sequence. Under ZeRO-3 this
    must run on every rank at every stage layer, so it runs even when the query set or the visual set is empty.
    """
    attention = next_layer.self_attn
    normed = next_layer.input_layernorm(state.hidden.detach())
    batch, length, _ = normed.shape
    head_dim = attention.head_dim
    query_counts = state.queries.sum(dim=1)
    width = int(query_counts.max()) if batch else 0
    order = torch.sort((~state.queries).to(torch.int8), dim=1, stable=True).indices[:, :width]
    query_valid = torch.arange(width, device=normed.device).expand(batch, width) < query_counts.unsqueeze(1)
    query_rows = normed.gather(1, order.unsqueeze(-1).expand(-1, -1, normed.shape[-1]))
    cos, sin = position_embeddings
    queries = attention.q_proj(query_rows).view(batch, width, attention.config.num_attention_heads, head_dim).transpose(1, 2)
    keys = attention.k_proj(normed).view(batch, length, -1, head_dim).transpose(1, 2)
    row_cos = cos.gather(1, order.unsqueeze(-1).expand(-1, -1, cos.shape[-1]))
    row_sin = sin.gather(1, order.unsqueeze(-1).expand(-1, -1, sin.shape[-1]))
    queries, _ = apply_rotary_pos_emb(queries, queries, row_cos, row_sin)
    _, keys = apply_rotary_pos_emb(keys, keys, cos, sin)
    return score_visual_tokens(
        queries,
        query_positions=order,
        query_valid=query_valid,
        keys=keys,
        key_valid=state.valid,
        scaling=attention.scaling,
    )


def drop_visual_tokens(
    state: TokenState,
    scores: torch.Tensor,
    n0: list[int],
    ratio: float,
    padding_side: str,
    compact: bool,
) -> TokenState:
    """Keep `int(N0·r)` visual tokens per sample (highest scores, original order), then re-pack the batch."""
    # A query can be visual only as the fallback (the last prompt position of the `plain` template is the image's
    # last token); it ranks first so that later stages still have a query while any visual token is kept.
    ranked = scores.masked_fill(state.queries, float("inf"))
    keep = select_kept_tokens(ranked, state.visual & state.valid, keep_counts(n0, ratio))
    index, new_valid = kept_index(keep & state.valid, state.valid, padding_side)
    pruned = state.gather(index, new_valid)
    if compact:
        pruned = replace(pruned, position_ids=compact_positions(new_valid))
    return pruned
