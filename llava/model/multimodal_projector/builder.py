"""LLaVA's projectors, with its state-dict key names (`mm_projector.0.weight`, `mm_projector.2.weight`, ...)."""

import re

from torch import nn

_MLP_GELU = re.compile(r"^mlp(\d+)x_gelu$")
SUPPORTED = ("linear", "identity", "mlp<N>x_gelu")


def build_vision_projector(projector_type: str, mm_hidden_size: int, hidden_size: int) -> nn.Module:
    """`linear`, `identity`, or `mlp<N>x_gelu` (N linear layers with GELU between, as an `nn.Sequential`)."""
    if projector_type == "linear":
        return nn.Linear(mm_hidden_size, hidden_size)
    if projector_type == "identity":
        if mm_hidden_size != hidden_size:
            raise ValueError(
                f"mm_projector_type='identity' needs mm_hidden_size == hidden_size, got {mm_hidden_size} and {hidden_size}."
            )
        return nn.Identity()
    match = _MLP_GELU.match(projector_type)
    if match:
        depth = int(match.group(1))
        if depth < 1:
            raise ValueError(f"mm_projector_type={projector_type!r} needs at least one layer.")
        layers: list[nn.Module] = [nn.Linear(mm_hidden_size, hidden_size)]
        for _ in range(1, depth):
            layers += [nn.GELU(), nn.Linear(hidden_size, hidden_size)]
        return nn.Sequential(*layers)
    raise ValueError(f"Unknown mm_projector_type {projector_type!r}; supported: {', '.join(SUPPORTED)}.")
