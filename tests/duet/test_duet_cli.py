"""`python -m duet` subcommands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from duet import cli, list_presets
from duet.trace import TokenTrace, TraceStage


def test_budget_for_one_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["budget", "--preset", "llava-1.5:64"]) == 0
    out = capsys.readouterr().out
    assert "63.75" in out and "88.9" in out and "102x16 51x8 0x8" in out


def test_budget_default_table_via_module() -> None:
    result = subprocess.run([sys.executable, "-m", "duet", "budget"], capture_output=True, text=True, check=True)
    header = result.stdout.splitlines()[0].split()
    assert header == ["full", "llava-1.5:192", "llava-1.5:128", "llava-1.5:64"]
    assert "191.75" in result.stdout and "126.25" in result.stdout


def test_budget_uses_each_presets_geometry(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["budget", "--preset", "video-llava:960", "--preset", "video-llava:136"])
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("images x patches")).split()[-2:] == ["8x256", "8x256"]
    assert next(line for line in lines if line.startswith("avg visual tokens")).split()[-2:] == ["960", "135"]


def test_presets_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_presets()


def test_show_without_a_host(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["show", "--model-path", "m", "--image", "i.png", "--question", "q"]) == 2
    assert "no DUET host found" in capsys.readouterr().err


class _FakeTraceHost:
    calls: list[tuple[Any, ...]] = []

    def trace(self, model_path: str, model_base: str | None, image_path: str, question: str, preset: str) -> TokenTrace:
        self.calls.append((model_path, model_base, image_path, question, preset))
        return TokenTrace(Image.new("RGB", (16, 16), "red"), (2, 2), [TraceStage("V2V (N0=2)", frozenset({0, 3}))])


class _FakeEntryPoint:
    name = "fake"

    def load(self) -> type[_FakeTraceHost]:
        return _FakeTraceHost


def test_show_renders_the_hosts_trace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [_FakeEntryPoint()])
    out = tmp_path / "t.png"
    argv = [
        "show",
        "--model-path",
        "m",
        "--image",
        "i.png",
        "--question",
        "q?",
        "--preset",
        "llava-1.5:128",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    assert _FakeTraceHost.calls[-1] == ("m", None, "i.png", "q?", "llava-1.5:128")
    assert Image.open(out).size[0] > 16
