"""End to end: `scripts/finetune_duet.sh` with no MODEL runs both stages, both finetunes, both evaluations,
and prints the comparison table (tiny sizes and a few steps: this checks the plumbing, not the accuracy)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "finetune_duet.sh"


@pytest.mark.slow
def test_demo_script_prints_the_table(tmp_path: Path) -> None:
    output, data = tmp_path / "checkpoints", tmp_path / "data"
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),  # run with the interpreter running the tests
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OUTPUT": str(output),
        "DATA_DIR": str(data),
        "PRESET": "89",
        "TRAIN_IMAGES": "16",
        "EVAL_IMAGES": "3",
        "PRETRAIN_STEPS": "1",
        "FINETUNE_STEPS": "2",
        "BATCH_SIZE": "4",
    }
    env.pop("MODEL", None)
    done = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    table = (output / "results-duet-64.txt").read_text()
    assert table in done.stdout
    assert "Held-out accuracy: 12 questions on 3 unseen images" in table
    for row in ("chance", "baseline: all 256 visual tokens", "DUET 64: 89% fewer visual tokens (avg 28 of 256)"):
        assert row in table
    assert table.count("same model, images shuffled") == 2
    assert "speed-up of DUET 64 over baseline" in table

    assert (output / "pretrain" / "mm_projector.bin").is_file()
    for run in ("finetune-baseline", "finetune-duet-64"):
        assert (output / run / "config.json").is_file() and (output / run / "model.safetensors").is_file()
    assert json.loads((output / "finetune-baseline" / "config.json").read_text())["duet"] is None
    assert json.loads((output / "finetune-duet-64" / "config.json").read_text())["duet"]["dominant"] == 32
