"""Build an lmms-eval environment layered on this one, leaving this one untouched.

    python -m llava.eval.lmms_env                # creates .venv-lmms next to the current directory
    .venv-lmms/bin/lmms-eval --model duet_llava --model_args pretrained=...,duet_preset=llava-1.5:64 --tasks pope

Why not `pip install lmms-eval` here (measured, see the README's evaluation section): lmms-eval 0.7.3 requires
torchvision, and pip then either replaces this environment's torch with another build (torch 2.13 CPU → a 2.14
CUDA build) or installs a torchvision that fails to import against it; once torchvision is importable, transformers
also switches `CLIPImageProcessor` to its torchvision backend, whose pixels differ from the PIL backend LLaVA was
evaluated with. And lmms-eval's evaluator imports `filelock._api`, which filelock 4.3 removed: every evaluation
then fails inside lmms-eval while the command still exits 0.

So the lmms-eval environment is a second venv whose site-packages come FIRST and this environment's after it (a
`.pth` file that adds them with `site.addsitedir`): torch, transformers, datasets and this project are this
environment's own, never copies and never replaced; the new venv holds only lmms-eval (installed without its
dependency list, so no torchvision) and the `lmms` extra (lmms-eval's run-time dependencies this project lacks, with
filelock < 4.3). pip in the new venv never uninstalls anything outside it. A marker file records what was built; a
second call with the same versions returns at once.
"""

import argparse
import json
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

LMMS_EVAL = "lmms-eval==0.7.3"
PROJECT = "duet-vlm"
EXTRA = "lmms"
MARKER = "duet-lmms-env.json"
OVERLAY_PTH = "zz_duet_core_site.pth"


def extra_requirements(project: str = PROJECT, extra: str = EXTRA) -> list[str]:
    """The `lmms` extra's requirements, as installed metadata of this project declares them."""
    try:
        declared = requires(project) or []
    except PackageNotFoundError:
        raise SystemExit(f"{project} is not installed in this environment; run `pip install -e .` first") from None
    chosen = []
    for requirement in declared:
        spec, _, marker = requirement.partition(";")
        if marker and f'extra == "{extra}"' in marker.replace("'", '"'):
            chosen.append(spec.strip())
    if not chosen:
        raise SystemExit(f"{project} declares no [{extra}] extra; reinstall it (`pip install -e .`)")
    return chosen


def core_site_dirs() -> list[str]:
    """This interpreter's site-packages (where torch, transformers and this project's editable finder live)."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def _site_packages(env: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return env / "lib" / version / "site-packages"


def wanted_marker() -> dict:
    return {"lmms_eval": LMMS_EVAL, "extra": extra_requirements(), "core": core_site_dirs(), "python": sys.version}


def build(env: Path, force: bool = False, quiet: bool = True) -> Path:
    """Create (or reuse) the layered environment at `env`; returns its `lmms-eval` command."""
    env = env.expanduser().resolve()
    marker = env / MARKER
    wanted = wanted_marker()
    command = env / "bin" / "lmms-eval"
    if not force and marker.is_file() and json.loads(marker.read_text()) == wanted and command.is_file():
        return command
    run = _runner(quiet)
    run([sys.executable, "-m", "venv", "--clear", str(env)])
    site = _site_packages(env)
    (site / OVERLAY_PTH).write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in wanted["core"]))
    pip = [str(_python(env)), "-m", "pip", "--disable-pip-version-check"] + (["-q"] if quiet else [])
    # the venv's bundled setuptools is older than the one torch declares; let this environment's show through
    run([*pip, "uninstall", "-y", "setuptools"])
    run([*pip, "install", "--no-deps", LMMS_EVAL])
    run([*pip, "install", *wanted["extra"]])
    check = "import torch, lmms_eval, llava; print(torch.__file__)"
    torch_file = subprocess.run([str(_python(env)), "-c", check], check=True, capture_output=True, text=True).stdout
    if not any(torch_file.strip().startswith(d) for d in wanted["core"]):
        raise RuntimeError(f"the layered environment imports torch from {torch_file.strip()}, not from this one")
    marker.write_text(json.dumps(wanted, indent=2) + "\n")
    return command


def _runner(quiet: bool):
    def run(command: Sequence[str]) -> None:
        result = subprocess.run(list(command), capture_output=quiet, text=True)
        if result.returncode != 0:
            output = (result.stdout or "") + (result.stderr or "")
            raise RuntimeError(f"`{' '.join(command)}` failed ({result.returncode}):\n{output[-3000:]}")

    return run


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=".venv-lmms", help="where to create the environment (default: .venv-lmms)")
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date one exists")
    args = parser.parse_args(argv)
    command = build(Path(args.path), force=args.force, quiet=False)
    print(f"lmms-eval is ready: {command} --model duet_llava --model_args pretrained=<folder or hub id>,"
          "duet_preset=<preset> --tasks <tasks>")  # fmt: skip
    return command


if __name__ == "__main__":
    main()
