"""Turn a model reference into local files: a path as given, or a Hugging Face Hub id through `huggingface_hub`.

LLaVA's users pass hub ids everywhere (`liuhaotian/llava-v1.5-7b`, `lmsys/vicuna-7b-v1.5`, and
`openai/clip-vit-large-patch14-336` inside a checkpoint's `mm_vision_tower`). This codebase recognises a checkpoint's
kind from its files, so every id is first resolved to its snapshot folder here, and everything downstream (kind
detection, config, tokenizer, weights, the CLIP tower) reads that local folder only. One resolver serves the loader,
every eval entry point, `duet show` and training, so the rules are the same everywhere:

- an existing folder (or file, for `resolve_model_file`) is used as it is;
- anything else that is a valid repo id (`org/name` or a legacy `name`) is a Hub model: it is downloaded into, or
  found in, the Hugging Face cache;
- anything else is a missing path, reported as such.

The environment is huggingface_hub's: `HF_HUB_CACHE` / `HF_HOME` choose the cache and `HF_HUB_OFFLINE=1` (or
`TRANSFORMERS_OFFLINE=1`) forbids the network; `revision` (branch, tag or commit) and `token` go to the Hub. The
variables are read at each call, not at import, so a process that sets them late (a notebook, a test) is honoured.
Only what loading needs is downloaded: configs, tokenizer files, LLaVA's projector / LoRA files, and one weight
format (safetensors when the repo has them, else `.bin`), never the TF / Flax / ONNX copies some repos also carry.
"""

import os
from pathlib import Path

from huggingface_hub import HfApi, ModelInfo, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

# Files every checkpoint kind may need besides its weights (configs, tokenizers, chat templates, LLaVA's extras).
METADATA_PATTERNS = (
    "*.json",
    "*.model",
    "*.txt",
    "*.jinja",
    "*.tiktoken",
    "mm_projector.bin",
    "non_lora_trainables.bin",
)
_TRUE = {"1", "ON", "YES", "TRUE"}


class ModelNotFoundError(FileNotFoundError):
    """A model reference that is neither an existing path nor a model the Hub or the local cache can provide."""


def hub_offline() -> bool:
    """`HF_HUB_OFFLINE` (or transformers' `TRANSFORMERS_OFFLINE`) as huggingface_hub reads it, but at call time."""
    return any(os.environ.get(name, "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _endpoint() -> str | None:
    """`HF_ENDPOINT` (a mirror, or a private Hub) read at call time; None is huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT") or None


def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache huggingface_hub would use: `cache_dir`, else `HF_HUB_CACHE`, else `$HF_HOME/hub`, else the default."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.path.expandvars(os.environ[name])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def is_hub_id(name: str) -> bool:
    """Whether `name` is spelled like a Hub repo id (`org/name`, or a legacy `name` such as `gpt2`)."""
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def resolve_model_folder(
    name: str | os.PathLike,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    role: str = "model",
) -> Path:
    """The local folder of `name`: the folder itself, or the cached snapshot of a Hub id (downloaded if allowed).

    `role` names what the reference is for ("model", "--model-base", "vision tower", ...) in error messages.
    """
    text = str(name)
    local = Path(os.path.expanduser(text))
    if local.is_dir():
        return local
    if local.exists():
        raise ModelNotFoundError(f"The {role} {text!r} is a file; pass the checkpoint folder that contains it.")
    if not is_hub_id(text):
        raise ModelNotFoundError(
            f"The {role} {text!r} does not exist: no such folder, and it is not a Hugging Face Hub id (org/name). "
            "Fix: check the path, or pass a hub id such as liuhaotian/llava-v1.5-7b."
        )
    return Path(_snapshot(text, revision, token, cache_dir, role))


def resolve_model_file(
    name: str | os.PathLike,
    default_filename: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    role: str = "file",
) -> Path:
    """A local file: `name` itself, `name/default_filename` for a folder or a Hub repo, or `org/name/path/in/repo`."""
    text = str(name)
    local = Path(os.path.expanduser(text))
    if local.is_file():
        return local
    if local.is_dir():
        candidate = local / default_filename
        if not candidate.is_file():
            raise ModelNotFoundError(f"The {role} folder {text!r} has no {default_filename}.")
        return candidate
    parts = text.split("/")
    repo_id, filename = ("/".join(parts[:2]), "/".join(parts[2:])) if len(parts) > 2 else (text, default_filename)
    if not is_hub_id(repo_id) or text.startswith(("/", ".", "~")):
        raise ModelNotFoundError(
            f"The {role} {text!r} does not exist: no such file, and it does not name a Hugging Face Hub repo "
            f"(org/name, or org/name/{default_filename}). Fix: check the path."
        )
    offline = hub_offline()
    cache = hub_cache_dir(cache_dir)
    unreachable = None if offline else _ask_hub(repo_id, revision, token, cache, role)[1]
    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                token=token,
                cache_dir=cache,
                local_files_only=offline or unreachable is not None,
                endpoint=_endpoint(),
            )
        )
    except Exception as error:  # every huggingface_hub failure becomes one message with the fix
        raise _explain(error, repo_id, revision, cache, offline, role, filename, unreachable) from error


def _ask_hub(
    repo_id: str, revision: str | None, token: str | bool | None, cache: Path, role: str
) -> tuple[ModelInfo | None, Exception | None]:
    """(the repo's info, None) when the Hub answers; (None, the connection error) when it cannot be reached, after
    one attempt (huggingface_hub retries a file download five times); a definite "no" from the Hub is raised."""
    try:
        return HfApi(token=token, endpoint=_endpoint()).model_info(repo_id, revision=revision), None
    except (RepositoryNotFoundError, RevisionNotFoundError, HfHubHTTPError) as error:
        raise _explain(error, repo_id, revision, cache, False, role) from error
    except Exception as error:  # connection refused, DNS, timeouts: the cache may still have it
        return None, error


def _snapshot(
    repo_id: str, revision: str | None, token: str | bool | None, cache_dir: str | os.PathLike | None, role: str
) -> str:
    """The snapshot folder of `repo_id` in the cache: downloaded (online) or looked up (offline / Hub unreachable)."""
    offline = hub_offline()
    cache = hub_cache_dir(cache_dir)
    info, unreachable = (None, None) if offline else _ask_hub(repo_id, revision, token, cache, role)
    try:
        if info is not None:
            files = [sibling.rfilename for sibling in info.siblings or []]
            return snapshot_download(
                repo_id,
                revision=info.sha,
                token=token,
                cache_dir=cache,
                endpoint=_endpoint(),
                allow_patterns=[*METADATA_PATTERNS, *weight_patterns(files)],
            )
        return snapshot_download(
            repo_id,
            revision=revision,
            token=token,
            cache_dir=cache,
            local_files_only=True,
            allow_patterns=list(METADATA_PATTERNS),
        )
    except Exception as error:  # every huggingface_hub failure becomes one message with the fix
        raise _explain(error, repo_id, revision, cache, offline, role, unreachable=unreachable) from error


def weight_patterns(files: list[str]) -> list[str]:
    """One weight format: safetensors when the repo has any (transformers' preference), else PyTorch `.bin`."""
    if any(name.endswith(".safetensors") for name in files):
        return ["*.safetensors"]
    return ["*.bin"]


def _explain(
    error: Exception,
    repo_id: str,
    revision: str | None,
    cache: Path,
    offline: bool,
    role: str,
    filename: str | None = None,
    unreachable: Exception | None = None,
) -> ModelNotFoundError:
    """One error that names the id, what went wrong and the fix, for each way a Hub lookup fails."""
    what = f"{repo_id}/{filename}" if filename else repo_id
    at = f" at revision {revision!r}" if revision else ""
    if isinstance(error, GatedRepoError):
        return ModelNotFoundError(
            f"The {role} {what!r} is a gated Hub repo and this machine has no access. Fix: accept its terms on "
            f"https://huggingface.co/{repo_id}, then log in with `hf auth login` or pass a token (HF_TOKEN)."
        )
    if isinstance(error, RevisionNotFoundError):
        return ModelNotFoundError(
            f"The {role} {repo_id!r} has no revision {revision!r} on the Hub. Fix: use a branch, tag or commit that "
            "exists (see the repo's 'Files and versions' page), or drop the revision."
        )
    if isinstance(error, RepositoryNotFoundError):
        return ModelNotFoundError(
            f"The {role} {what!r} is not a local path and not a model on the Hugging Face Hub (or it is private). "
            "Fix: check the spelling of the path or id (e.g. liuhaotian/llava-v1.5-7b); for a private repo log in "
            "with `hf auth login` or pass a token."
        )
    if isinstance(error, LocalEntryNotFoundError) or offline or unreachable is not None:
        why = "HF_HUB_OFFLINE is set" if offline else f"the Hub could not be reached ({unreachable or error})"
        switch = "unset HF_HUB_OFFLINE where the Hub is reachable" if offline else "check the network (or HF_ENDPOINT)"
        return ModelNotFoundError(
            f"The {role} {what!r}{at} is not a local path and is not (completely) in the Hugging Face cache at "
            f"{cache}, and {why}. Fix: download it where there is network with `hf download {repo_id}` into the "
            f"same cache (HF_HOME / HF_HUB_CACHE) and copy the cache here, {switch}, or pass a local folder instead."
        )
    return ModelNotFoundError(f"The {role} {what!r}{at} could not be fetched from the Hugging Face Hub: {error}")
