"""W&B's mode for `--report_to wandb`: the user's WANDB_MODE wins, a key means online, otherwise offline."""

import os

import pytest

from llava.train.arguments import parse_arguments
from llava.train.runtime import configure_wandb


def _args(report_to: str):
    *_, training_args, _ = parse_arguments(["--output_dir", "out", "--use_cpu", "True", "--report_to", report_to])
    return training_args


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({"WANDB_MODE": "disabled", "WANDB_API_KEY": "key"}, "disabled"),
        ({"WANDB_API_KEY": "key"}, "online"),
        ({}, "offline"),
    ],
)
def test_wandb_mode(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: str) -> None:
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert configure_wandb(_args("wandb")) == expected


def test_report_to_none_leaves_wandb_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert configure_wandb(_args("none")) is None
    assert "WANDB_MODE" not in os.environ
