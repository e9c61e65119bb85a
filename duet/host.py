"""The boundary between `duet` and a model that hosts it (docs/design.md).

`duet` never imports a model package; a host only has to expose its geometry and accept a config. `apply`
is the one entry point users call, and it validates the config against the real geometry before the model
sees it, so a bad stage layer fails here rather than in the middle of a forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from duet.config import DuetConfig, resolve
from duet.trace import TokenTrace


@runtime_checkable
class DuetHost(Protocol):
    """What a model must provide to be compressed by `apply`."""

    def duet_geometry(self) -> tuple[int, int]:
        """(number of decoder layers, patches per image excluding CLS)."""
        ...

    def enable_duet(self, config: DuetConfig | None) -> None:
        """Switch compression on with ``config``, or off with None (also what a no-compression config becomes)."""
        ...


@runtime_checkable
class TraceHost(Protocol):
    """What `python -m duet show` loads from the ``duet.hosts`` entry-point group (constructed with no args)."""

    def trace(self, model_path: str, model_base: str | None, image_path: str, question: str, preset: str) -> TokenTrace:
        """Run one compressed prefill of ``question`` about ``image_path`` and report which patches survived."""
        ...


HostT = TypeVar("HostT", bound=DuetHost)


def apply(model: HostT, config_or_preset: DuetConfig | str | Mapping[str, Any] | None) -> HostT:
    """Resolve ``config_or_preset``, validate it for ``model``'s geometry, enable it, and return ``model``.

    A config with no compression (``is_full``) is passed on as None so hosts have one "off" path.
    """
    if not isinstance(model, DuetHost):
        raise TypeError(
            f"duet.apply: {type(model).__name__} is not a DuetHost. Fix: give it duet_geometry() and enable_duet()."
        )
    config = resolve(config_or_preset)
    if config is not None:
        num_layers, num_patches = model.duet_geometry()
        config.validate_for(num_layers, num_patches)
    model.enable_duet(None if config is None or config.is_full else config)
    return model
