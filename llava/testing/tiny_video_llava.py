"""Tiny random Video-LLaVA models, saved in both released layouts, plus the hub cache and videos tests need.

Real checkpoints cannot be downloaded in CI, so tests build a model with Video-LLaVA-7B's *structure* — two
LanguageBind towers at 224 px / patch 14 (256 patches, 257 tokens per frame with CLS), the video tower with temporal
attention over 8 frames in every layer, an `mlp2x_gelu` projector shared by both towers, a Llama decoder — and save it
exactly as the hub repositories are laid out:

- `LanguageBind/Video-LLaVA-7B` (`save_original_layout`): LLaVA's flat `config.json` (`model_type: llava`,
  `mm_image_tower` / `mm_video_tower` hub ids), weights in two `pytorch_model-0000k-of-00002.bin` shards with an
  index, both towers' weights inside under `model.{image,video}_tower.{image,video}_tower.*`, RoPE `inv_freq`
  buffers as transformers 4.31 saved them, and the tokenizer. The towers' configs live in their own repositories
  (`save_tower_repos`: LanguageBind's two-tower `config.json` with `vision_config`).
- `LanguageBind/Video-LLaVA-7B-hf` (`save_hf_layout`): transformers' `VideoLlavaConfig`, weights converted by the
  conversion's key map under the names the 4.39-era checkpoint stores (`language_model.model.*`,
  `video_tower.vision_model.*`), temporal weights dropped, `<image>` `<video>` `<pad>` added to the tokenizer and
  the vocabulary padded to a multiple of 64, and the image processor's settings.

`install_in_hub_cache` puts any of these folders into a fake HF cache (`models--org--name/snapshots/<sha>`,
`refs/main`) so the loaders resolve the real hub ids offline.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import AddedToken
from transformers import PreTrainedTokenizerBase, VideoLlavaForConditionalGeneration, VideoLlavaImageProcessor

from llava.model.configuration_video_llava import VIDEO_FRAMES, VideoLlavaLlamaConfig
from llava.model.language_model.video_llava_llama import VideoLlavaLlamaForCausalLM
from llava.model.video_llava_conversion import convert_state_dict, hf_config, legacy_hf_keys
from llava.testing.tiny_llava import read_tiny_config
from llava.testing.tiny_tokenizer import build_tiny_tokenizer
from llava.video.processing import LanguageBindVideoProcessor, VideoLlavaProcessors, languagebind_image_processor

ORIGINAL_ID = "LanguageBind/Video-LLaVA-7B"
HF_ID = "LanguageBind/Video-LLaVA-7B-hf"
IMAGE_TOWER_ID = "LanguageBind/LanguageBind_Image"
VIDEO_TOWER_ID = "LanguageBind/LanguageBind_Video_merge"
HF_ADDED_TOKENS = ("<image>", "<video>", "<pad>")
FAKE_SHA = "0123456789abcdef0123456789abcdef01234567"
_TINY_TEXT_TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "vocab_size": 1000, "max_position_embeddings": 77}  # fmt: skip


@dataclass
class TinyVideoLlava:
    """A tiny original-layout model, its tokenizer and its processors (what the loader returns, minus context)."""

    model: VideoLlavaLlamaForCausalLM
    tokenizer: PreTrainedTokenizerBase
    processors: VideoLlavaProcessors


def languagebind_repo_config(video: bool) -> dict:
    """The `config.json` of a tiny `LanguageBind_Video_merge` (video) or `LanguageBind_Image` repository.

    LanguageBind saves a two-tower CLIP config; the vision side carries its own fields (`add_time_attn`,
    `num_frames`, LoRA and patch-dropout settings) next to CLIP's.
    """
    vision = {
        **read_tiny_config("clip_vision_224"),
        "model_type": "clip_vision_model",
        "projection_dim": 32,
        "add_time_attn": video,
        "num_frames": VIDEO_FRAMES if video else 1,
        "force_patch_dropout": 0.0,
        "lora_r": 64 if video else 2,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "num_mel_bins": 0.0,
        "target_length": 0.0,
        "video_decode_backend": "decord",
    }
    name = "LanguageBindVideo" if video else "LanguageBindImage"
    return {
        "architectures": [name],
        "model_type": name,
        "projection_dim": 32,
        "logit_scale_init_value": 2.6592,
        "text_config": {**_TINY_TEXT_TOWER, "model_type": "clip_text_model"},
        "vision_config": vision,
    }


def build_tiny_video_llava(
    seed: int = 0,
    temporal: bool = True,
    llama_overrides: dict | None = None,
    attn_implementation: str = "sdpa",
) -> TinyVideoLlava:
    """A randomly initialised tiny Video-LLaVA (original layout) in memory."""
    torch.manual_seed(seed)
    tokenizer = build_tiny_tokenizer()
    llama = {**read_tiny_config("llama"), **(llama_overrides or {})}
    llama["vocab_size"] = len(tokenizer)
    image_vision = languagebind_repo_config(video=False)["vision_config"]
    video_vision = {**languagebind_repo_config(video=True)["vision_config"], "add_time_attn": temporal}
    config = VideoLlavaLlamaConfig(
        **llama,
        mm_image_tower=IMAGE_TOWER_ID,
        mm_video_tower=VIDEO_TOWER_ID,
        mm_image_tower_config=image_vision,
        mm_video_tower_config=video_vision,
        mm_hidden_size=image_vision["hidden_size"],
        mm_vision_select_layer=-2,
        mm_vision_select_feature="patch",
        mm_projector_type="mlp2x_gelu",
        image_aspect_ratio="pad",
        tokenizer_padding_side="right",
        tokenizer_model_max_length=3072,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = VideoLlavaLlamaForCausalLM._from_config(config, attn_implementation=attn_implementation).eval()
    processors = VideoLlavaProcessors(
        image=languagebind_image_processor(224), video=LanguageBindVideoProcessor(num_frames=VIDEO_FRAMES)
    )
    return TinyVideoLlava(model=model, tokenizer=tokenizer, processors=processors)


# ---------------------------------------------------------------------------------------------- original layout
def original_config_json(model: VideoLlavaLlamaForCausalLM) -> dict:
    """`config.json` as `LanguageBind/Video-LLaVA-7B` ships it: LLaVA's flat config under `model_type: llava`."""
    config = model.config
    fields = ("bos_token_id", "eos_token_id", "pad_token_id", "hidden_act", "hidden_size", "intermediate_size",
              "initializer_range", "max_position_embeddings", "num_attention_heads", "num_hidden_layers",
              "num_key_value_heads", "rms_norm_eps", "tie_word_embeddings", "vocab_size", "mm_hidden_size",
              "mm_image_tower", "mm_video_tower", "mm_projector_type", "mm_use_im_patch_token", "mm_use_im_start_end",
              "mm_vision_select_feature", "mm_vision_select_layer", "image_aspect_ratio", "tokenizer_model_max_length",
              "tokenizer_padding_side", "tune_mm_mlp_adapter", "freeze_mm_mlp_adapter", "use_mm_proj",
              "mm_projector_lr")  # fmt: skip
    return {
        "_name_or_path": "checkpoints/videollava-7b",
        "architectures": ["LlavaLlamaForCausalLM"],
        "model_type": "llava",
        **{name: getattr(config, name) for name in fields},
        "image_grid_pinpoints": None,
        "pretraining_tp": 1,
        "rope_scaling": None,
        "torch_dtype": "float32",
        "transformers_version": "4.31.0",
        "use_cache": True,
    }


def _inv_freq(model: VideoLlavaLlamaForCausalLM) -> torch.Tensor:
    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    return 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))


def save_original_layout(
    tiny: TinyVideoLlava, root: Path, name: str = "Video-LLaVA-7B", drop_prefixes: tuple[str, ...] = ()
) -> Path:
    """Write `root/<name>` as `LanguageBind/Video-LLaVA-7B` is laid out (module docstring); returns the folder.

    `drop_prefixes` leaves out weights (e.g. a tower) to make the broken checkpoints users meet.
    """
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in tiny.model.state_dict().items()}
    for layer in range(tiny.model.config.num_hidden_layers):
        state[f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"] = _inv_freq(tiny.model)
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    keys = list(state)
    shards = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    weight_map = {}
    for number, shard_keys in enumerate(shards, start=1):
        file = f"pytorch_model-{number:05d}-of-{len(shards):05d}.bin"
        torch.save({k: state[k] for k in shard_keys}, folder / file)
        weight_map.update(dict.fromkeys(shard_keys, file))
    total = sum(v.numel() * v.element_size() for v in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2))
    (folder / "config.json").write_text(json.dumps(original_config_json(tiny.model), indent=2))
    tiny.tokenizer.save_pretrained(folder)
    return folder


def save_tower_repos(root: Path, weights_from: TinyVideoLlava | None = None) -> dict[str, Path]:
    """Folders of the two tower repositories: `config.json`, and with `weights_from` LanguageBind's
    `pytorch_model.bin` (the full two-tower model: `vision_model.*` from that model's towers, and a text side).

    Video-LLaVA *inference* reads only the configs (the weights are in its checkpoint); *training* from a language
    model reads the towers' weights from here.
    """
    folders = {}
    for repo_id, video in ((IMAGE_TOWER_ID, False), (VIDEO_TOWER_ID, True)):
        folder = Path(root) / repo_id.split("/")[1]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(languagebind_repo_config(video), indent=2))
        if weights_from is not None:
            tower = weights_from.model.get_video_tower() if video else weights_from.model.get_image_tower()
            state = {f"vision_model.{k}": v.detach().clone() for k, v in tower.model.state_dict().items()}
            state["vision_model.embeddings.position_ids"] = torch.arange(257)[None]  # as older transformers saved it
            width = _TINY_TEXT_TOWER["hidden_size"]
            state["text_model.embeddings.token_embedding.weight"] = torch.zeros(_TINY_TEXT_TOWER["vocab_size"], width)
            state["visual_projection.weight"] = torch.zeros(32, width)
            state["text_projection.weight"] = torch.zeros(32, width)
            state["logit_scale"] = torch.tensor(2.6592)
            torch.save(state, folder / "pytorch_model.bin")
        folders[repo_id] = folder
    return folders


# -------------------------------------------------------------------------------------------------- -hf layout
def hf_tokenizer() -> PreTrainedTokenizerBase:
    """The conversion's tokenizer: the tiny one plus `<image>`, `<video>`, `<pad>` as special tokens, left padding."""
    fresh = build_tiny_tokenizer()
    fresh.add_tokens(
        [AddedToken(token, special=True, normalized=False) for token in HF_ADDED_TOKENS], special_tokens=True
    )
    fresh.pad_token = "<pad>"
    fresh.padding_side = "left"
    fresh.model_max_length = 4096  # a video alone is 2056 tokens
    return fresh


def convert_to_hf(tiny: TinyVideoLlava) -> tuple[VideoLlavaForConditionalGeneration, PreTrainedTokenizerBase]:
    """`VideoLlavaForConditionalGeneration` holding the tiny model's weights, as the conversion script builds it."""
    tokenizer = hf_tokenizer()
    ids = [tokenizer.convert_tokens_to_ids(t) for t in HF_ADDED_TOKENS]
    vocab = -(-len(tokenizer) // 64) * 64
    config = hf_config(tiny.model.config, ids[0], ids[1], vocab_size=vocab, pad_token_id=ids[2])
    state, _temporal = convert_state_dict(tiny.model.state_dict())
    for key in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
        old = state[key]
        state[key] = torch.cat([old, old.mean(dim=0, keepdim=True).expand(vocab - old.shape[0], -1)])
    model = VideoLlavaForConditionalGeneration(config)
    model.load_state_dict(state, strict=True)
    return model.eval(), tokenizer


def save_hf_layout(tiny: TinyVideoLlava, root: Path, name: str = "Video-LLaVA-7B-hf") -> Path:
    """Write `root/<name>` as `LanguageBind/Video-LLaVA-7B-hf` is laid out (module docstring); returns the folder."""
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    model, tokenizer = convert_to_hf(tiny)
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(folder)
    state = legacy_hf_keys({k: v.contiguous() for k, v in model.state_dict().items()})
    keys = sorted(state)
    shards = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    weight_map = {}
    for number, shard_keys in enumerate(shards, start=1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k] for k in shard_keys}, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard_keys, file))
    index = {
        "metadata": {"total_size": sum(v.numel() * v.element_size() for v in state.values())},
        "weight_map": weight_map,
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    tokenizer.save_pretrained(folder)
    VideoLlavaImageProcessor().save_pretrained(folder)
    settings = {"processor_class": "VideoLlavaProcessor", "patch_size": 14, "vision_feature_select_strategy": "default"}
    (folder / "processor_config.json").write_text(json.dumps(settings, indent=2))
    return folder


# ---------------------------------------------------------------------------------------------- hub cache, videos
def install_in_hub_cache(cache_dir: Path, repo_id: str, folder: Path, sha: str = FAKE_SHA) -> Path:
    """Copy `folder` into an HF cache as `repo_id`'s `main` snapshot (`HF_HUB_CACHE=cache_dir`, offline)."""
    org, name = repo_id.split("/")
    repo = Path(cache_dir) / f"models--{org}--{name}"
    snapshot = repo / "snapshots" / sha
    shutil.copytree(folder, snapshot, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(sha)
    return snapshot


def color_frames(count: int, height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """(count, H, W, 3) uint8 frames: a moving square over a per-frame background level (frame i ≈ 12·i grey).

    The grey level identifies the frame after lossy encoding (steps of 12 survive MPEG-4 at top quality).
    """
    rng = np.random.default_rng(seed)
    frames = np.zeros((count, height, width, 3), dtype=np.uint8)
    colour = rng.integers(0, 256, size=3, dtype=np.uint8)
    for i in range(count):
        frames[i] = (12 * i) % 256
        top, left = (5 * i) % (height - 16), (7 * i) % (width - 16)
        frames[i, top : top + 16, left : left + 16] = colour
    return frames


def write_video(path: Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Encode (T, H, W, 3) uint8 frames as an MPEG-4 `.mp4` with PyAV (the `video` extra)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
