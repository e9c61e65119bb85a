"""DUET-VLM: two-stage visual-token compression (V2V merge before the projector, T2V drop inside the LLM).

This top level stays light (no torch import) so that ``python -m duet budget`` is instant; the tensor code
lives in `duet.v2v` and `duet.t2v`, imported by hosts where they call it.
"""

from duet.config import DuetConfig, resolve
from duet.host import DuetHost, TraceHost, apply
from duet.presets import Preset, get_preset, list_presets

__all__ = ["DuetConfig", "DuetHost", "Preset", "TraceHost", "apply", "get_preset", "list_presets", "resolve"]
