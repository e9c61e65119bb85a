"""`duet.apply` against a fake host: resolution, validation, and the single "off" path."""

from __future__ import annotations

import pytest

from duet import DuetConfig, DuetHost, apply


class FakeHost:
    def __init__(self, num_layers: int = 32, patches: int = 576) -> None:
        self.geometry = (num_layers, patches)
        self.enabled: list[DuetConfig | None] = []

    def duet_geometry(self) -> tuple[int, int]:
        return self.geometry

    def enable_duet(self, config: DuetConfig | None) -> None:
        self.enabled.append(config)


def test_apply_resolves_validates_and_enables() -> None:
    host = FakeHost()
    assert isinstance(host, DuetHost)
    assert apply(host, "llava-1.5:64") is host
    assert host.enabled == [DuetConfig.from_preset("llava-1.5:64")]


def test_no_compression_is_passed_as_none() -> None:
    host = FakeHost()
    apply(host, "full")
    apply(host, None)
    assert host.enabled == [None, None]


def test_invalid_geometry_fails_before_the_model_is_touched() -> None:
    host = FakeHost(num_layers=16)
    with pytest.raises(ValueError, match="stage layer 16"):
        apply(host, "llava-1.5:192")
    assert host.enabled == []


def test_non_host_is_rejected() -> None:
    with pytest.raises(TypeError, match="not a DuetHost"):
        apply(object(), "full")  # type: ignore[type-var]
