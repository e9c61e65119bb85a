"""The boundary between `duet` and a model that hosts it (docs/design.md).

`duet` never imports a model package; a host only has to expose its geometry and accept a config. `apply`
is the one entry point users call, and it validates the config against the real geometry before the model
sees it, so a bad stage layer fails here rather than in the middle of a forward pass.

Models that are not hosts themselves — transformers' own `LlavaForConditionalGeneration`, as loaded with
`from_pretrained` — are adopted through the ``duet.models`` entry-point group: an entry named after the model's
class points at a subclass of it that is a host (it overrides `forward`, adds no parameters). `apply` switches the
instance to that subclass, as `torch.nn.utils.parametrize` does, and `apply(model, "full")` switches it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
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


MODEL_GROUP = "duet.models"

HostT = TypeVar("HostT")


def _registered_hosts() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=MODEL_GROUP)}


def _adopt(model: Any) -> DuetHost:
    """``model`` as a host: itself, or its class switched to the host subclass registered for that class."""
    if isinstance(model, DuetHost):
        return model
    registered = _registered_hosts()
    for cls in type(model).__mro__:
        entry = registered.get(cls.__name__)
        if entry is None:
            continue
        host_class = entry.load()
        if not issubclass(host_class, type(model)):
            raise TypeError(
                f"duet.apply: the {MODEL_GROUP!r} entry {entry.name!r} ({entry.value}) is not a subclass of "
                f"{type(model).__name__}. Fix: register a host that subclasses the model class it adopts."
            )
        model.__class__ = host_class
        return model
    known = ", ".join(sorted(registered)) or "none"
    raise TypeError(
        f"duet.apply: {type(model).__name__} is not a DuetHost and no host is registered for it in the "
        f"{MODEL_GROUP!r} entry-point group (registered: {known}). Fix: give it duet_geometry() and enable_duet(), "
        "or register a host subclass for its class."
    )


def apply(model: HostT, config_or_preset: DuetConfig | str | Mapping[str, Any] | None) -> HostT:
    """Resolve ``config_or_preset``, validate it for ``model``'s geometry and layout, enable it, return ``model``.

    A config with no compression (``is_full``) is passed on as None so hosts have one "off" path; an adopted
    transformers model then gets its own class back, so it is exactly the model that was loaded.
    """
    config = resolve(config_or_preset)
    host = _adopt(model)
    active = None if config is None or config.is_full else config
    if active is not None:
        num_layers, num_patches = host.duet_geometry()
        active.validate_for(num_layers, num_patches)
    host.enable_duet(active)
    original = getattr(type(host), "duet_adopted_from", None)
    if active is None and original is not None:
        host.__class__ = original
    return model
