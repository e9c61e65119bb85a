"""Pretrain the demo's tiny CLIP tower on the synthetic shapes, so that its features and its CLS attention mean something.

    python -m llava.demo.tower --base checkpoints/demo/base/tiny-clip-224 --cache checkpoints/towers --seed 0

LLaVA starts from a *pretrained* CLIP: its patch features already name what they show, and its CLS token attends
to the salient objects, which is the signal DUET's V2V stage ranks patches by. A randomly initialised tiny tower has
neither: V2V would rank patches by noise and the LLM could not read shape or side from the features at all. This
step gives the tiny tower what CLIP's own pretraining gives the real one, on the demo's world, by supervised scene
attributes (cheaper than contrastive image-caption training, and it learns within the demo's budget):

- every patch predicts whether it shows an object (a patch belongs to an object when the object covers at least
  `OWNER_COVERAGE` of it) and, for object patches, that object's colour, shape and side of the image;
- the same attributes are also predicted from each object's patches *pooled* (the mean of their predictions), which
  is what the LLM does when it attends to "the red object": interior patches of a shape look alike, its outline
  patches tell the shape, and the pooled loss lets them share the work;
- the CLS token predicts which colours and shapes the scene holds and how many shapes there are. It can only do so
  by attending to the object patches, which is what concentrates its attention on them.

All predictions read the tower's `select_layer` output (LLaVA's −2), the features the projector receives; the
heads are thrown away afterwards and the tower is saved as a plain `CLIPVisionModel` folder (with its image
processor), usable as `--vision_tower`. Scenes are freshly drawn from their own seeded stream, never the demo's
held-out images.

The trained tower is cached (`llava.demo.cache`) in `<cache>/<name>-seed<seed>-<hash>/`, the hash covering the
tower's config, the recipe, the seed and the scene generator, so a second run with the same settings reuses it; an
interrupted run leaves no half-written tower behind.
`tower_training.json` next to the weights holds the loss curve and held-out measurements (attribute accuracies,
the share of CLS attention on objects, and how many objects keep a patch among each DUET preset's dominant tokens).
"""

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm
from transformers import CLIPImageProcessorPil, CLIPVisionModel

from llava.demo import scenes as scene_lib
from llava.demo.cache import cached_folder
from llava.demo.presets import DEMO_PRESETS
from llava.demo.scenes import COLOURS, MAX_SHAPES, SHAPES, Scene, render_object_mask, render_scene, sample_scene
from llava.model.multimodal_encoder.tower_loading import load_image_processor

FORMAT_VERSION = 1
"""Bumped whenever the objective or the saved layout changes, so stale cached towers are not reused."""
OWNER_COVERAGE = 0.2
"""A patch belongs to an object when the object covers at least this share of its pixels (outline patches count)."""
SIDES: tuple[str, ...] = ("left", "right")
TRAINING_RECORD = "tower_training.json"
_COLOURS = tuple(COLOURS)
# Patch head: [object?] + colour + shape + side logits; CLS head: colour presence + shape presence + count.
_PATCH_SLICES = {"object": slice(0, 1), "colour": slice(1, 7), "shape": slice(7, 10), "side": slice(10, 12)}
_CLS_SLICES = {"colours": slice(0, 6), "shapes": slice(6, 9), "count": slice(9, 12)}


@dataclass(frozen=True)
class TowerRecipe:
    """How the tower is trained; every field is part of the cache key."""

    seed: int = 0
    steps: int = 600
    batch_size: int = 64
    learning_rate: float = 5e-3
    position_lr_scale: float = 3.0
    """The position embeddings learn at this multiple of `learning_rate`: they start tiny (std 0.02) against the
    patch embeddings, and "left or right" is read from them (held-out side accuracy 0.87 -> 1.00 at 400 steps)."""
    train_scenes: int = 2048
    """Distinct scenes drawn once and sampled with replacement (rendering each step would cost more than training)."""
    eval_scenes: int = 256


@dataclass(frozen=True)
class SceneTensors:
    """Rendered scenes and their targets; object slots beyond a scene's shape count hold -1."""

    pixels: torch.Tensor  # (N, 3, H, W) uint8
    owner: torch.Tensor  # (N, patches) long: 0 background, i + 1 object slot i
    colour: torch.Tensor  # (N, MAX_SHAPES) long
    shape: torch.Tensor  # (N, MAX_SHAPES) long
    side: torch.Tensor  # (N, MAX_SHAPES) long
    count: torch.Tensor  # (N,) long: number of shapes - 1

    def __len__(self) -> int:
        return len(self.count)

    def take(self, index: torch.Tensor) -> "SceneTensors":
        return SceneTensors(*(getattr(self, name)[index] for name in self.__dataclass_fields__))


def patch_owners(scene: Scene, patch_size: int) -> np.ndarray:
    """Per patch (raster order): 0 for background, i + 1 when `scene.shapes[i]` covers >= OWNER_COVERAGE of it."""
    mask = np.asarray(render_object_mask(scene))
    side = scene.size // patch_size
    slots = len(scene.shapes) + 1
    coverage = np.eye(slots, dtype=np.float32)[mask].reshape(side, patch_size, side, patch_size, slots).mean((1, 3))
    coverage = coverage.reshape(side * side, slots)
    best = coverage[:, 1:].argmax(-1) + 1
    return np.where(coverage[np.arange(side * side), best] >= OWNER_COVERAGE, best, 0)


def draw_scenes(count: int, seed: str, image_size: int, patch_size: int) -> SceneTensors:
    """`count` scenes from the seeded stream `seed`, rendered, with per-patch owners and per-object attributes."""
    rng = random.Random(seed)
    pixels = np.empty((count, 3, image_size, image_size), dtype=np.uint8)
    owner = np.empty((count, (image_size // patch_size) ** 2), dtype=np.int64)
    colour, shape, side = (np.full((count, MAX_SHAPES), -1, dtype=np.int64) for _ in range(3))
    number = np.empty(count, dtype=np.int64)
    for i in range(count):
        scene = sample_scene(rng, image_size)
        pixels[i] = np.asarray(render_scene(scene)).transpose(2, 0, 1)
        owner[i] = patch_owners(scene, patch_size)
        for slot, item in enumerate(scene.shapes):
            colour[i, slot] = _COLOURS.index(item.colour)
            shape[i, slot] = SHAPES.index(item.kind)
            side[i, slot] = SIDES.index(item.side)
        number[i] = len(scene.shapes) - 1
    arrays = (pixels, owner, colour, shape, side, number)
    return SceneTensors(*(torch.from_numpy(a) for a in arrays))


class AttributeHeads(nn.Module):
    """Linear read-outs of the select layer: per patch (object?, colour, shape, side) and from CLS (scene summary)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.patch = nn.Sequential(nn.LayerNorm(hidden_size), nn.Linear(hidden_size, _PATCH_SLICES["side"].stop))
        self.cls = nn.Sequential(nn.LayerNorm(hidden_size), nn.Linear(hidden_size, _CLS_SLICES["count"].stop))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch(features[:, 1:]), self.cls(features[:, 0])


def pixel_statistics(pixels: torch.Tensor, sample: int = 256) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the tower's training images, in [0, 1]: its image processor's normalisation.

    CLIP's constants are the statistics of CLIP's pretraining images; the demo's world is a light background with
    small shapes, so its own statistics centre the background near zero. With CLIP's constants the background maps
    to a large constant that dominates every patch embedding, and the tower took several times as many steps to
    tell shapes apart (held-out object shape accuracy 0.69 against 0.99 after 600 steps).
    """
    values = pixels[:sample].float() / 255.0
    return values.mean((0, 2, 3)).tolist(), values.std((0, 2, 3)).tolist()


def normalise(pixels: torch.Tensor, processor: CLIPImageProcessorPil) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> CLIP-normalised floats: what the image processor produces for these square images."""
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    scale = 1.0 / (255.0 * std)
    shift = -torch.tensor(processor.image_mean).view(1, 3, 1, 1) / std
    return pixels.float() * scale + shift


def select_layer_entry(model: CLIPVisionModel, select_layer: int) -> int:
    """Index into `hidden_states` of LLaVA's `mm_vision_select_layer` (entry 0 is the encoder input)."""
    layers = model.config.num_hidden_layers
    entry = select_layer if select_layer >= 0 else layers + 1 + select_layer
    if not 1 <= entry <= layers:
        raise ValueError(f"select layer {select_layer} is outside a {layers}-layer tower")
    return entry


def forward_select_layer(model: CLIPVisionModel, pixels: torch.Tensor, entry: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The select layer's features and its CLS -> patch attention averaged over heads (what V2V ranks patches by).

    Only the layers up to the select layer run (the ones above never reach the projector), with the tower's own
    attention kernel; the CLS query row of the select layer is then recomputed from that layer's input and its own
    projections, one row per head, instead of asking for eager attention maps of every token (which tripled the cost
    of a training step). `tests/demo/test_tower.py` checks it against the model's `output_attentions`.
    """
    hidden = model.pre_layrnorm(model.embeddings(pixels))
    for layer in model.encoder.layers[: entry - 1]:
        hidden = layer(hidden, None)
    select = model.encoder.layers[entry - 1]
    attention = select.self_attn
    normed = select.layer_norm1(hidden)
    batch, tokens, _ = normed.shape
    heads = attention.num_heads
    query = attention.q_proj(normed[:, :1]).view(batch, 1, heads, -1).transpose(1, 2)
    keys = attention.k_proj(normed).view(batch, tokens, heads, -1).transpose(1, 2)
    cls_row = torch.softmax(query @ keys.transpose(-1, -2) * attention.scale, dim=-1)  # (N, heads, 1, tokens)
    return select(hidden, None), cls_row[:, :, 0, 1:].mean(1)


def object_attention_target(owner: torch.Tensor) -> torch.Tensor:
    """Where the CLS attention should go: every object an equal share, spread evenly over its patches.

    Equal shares per object rather than per patch keep small shapes among the top-ranked patches, so V2V's
    dominant set covers every object. Images without object patches (none in the demo) get a uniform target.
    """
    members = F.one_hot(owner, MAX_SHAPES + 1)[..., 1:].float()  # (N, patches, slots)
    sizes = members.sum(1)  # (N, slots)
    share = members / sizes.clamp(min=1)[:, None, :]
    objects = (sizes > 0).sum(1, keepdim=True).clamp(min=1)
    target = share.sum(-1) / objects
    empty = target.sum(-1, keepdim=True) == 0
    return torch.where(empty, torch.full_like(target, 1.0 / target.shape[-1]), target)


def _pooled(patch_logits: torch.Tensor, owner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean patch logits of each object slot (N, MAX_SHAPES, C) and which slots have patches (N, MAX_SHAPES)."""
    members = F.one_hot(owner, MAX_SHAPES + 1)[..., 1:].to(patch_logits.dtype)
    sizes = members.sum(1)
    pooled = torch.einsum("npo,npc->noc", members, patch_logits) / sizes.clamp(min=1)[..., None]
    return pooled, sizes > 0


def _per_patch(values: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """Each patch's object attribute (N, patches), -1 on background: `values` (N, MAX_SHAPES) indexed by owner."""
    padded = torch.cat([torch.full_like(values[:, :1], -1), values], dim=1)
    return padded.gather(1, owner)


def attribute_loss(
    patch_logits: torch.Tensor, cls_logits: torch.Tensor, cls_attention: torch.Tensor, batch: SceneTensors
) -> torch.Tensor:
    """Object/background per patch, attributes per object patch and per pooled object, scene summary from CLS, and
    KL(`object_attention_target` || CLS attention renormalised over patches): every term is 0 when perfect."""
    is_object = batch.owner > 0
    loss = F.binary_cross_entropy_with_logits(patch_logits[..., 0], is_object.float())
    pooled, present = _pooled(patch_logits, batch.owner)
    for name, values in (("colour", batch.colour), ("shape", batch.shape), ("side", batch.side)):
        cut = _PATCH_SLICES[name]
        targets = _per_patch(values, batch.owner)
        loss = loss + F.cross_entropy(patch_logits[..., cut][is_object], targets[is_object])
        loss = loss + F.cross_entropy(pooled[..., cut][present], values[present])
    colours = F.one_hot(batch.colour.clamp(min=0), len(_COLOURS)).mul((batch.colour >= 0)[..., None]).amax(1)
    shapes = F.one_hot(batch.shape.clamp(min=0), len(SHAPES)).mul((batch.shape >= 0)[..., None]).amax(1)
    loss = loss + F.binary_cross_entropy_with_logits(cls_logits[:, _CLS_SLICES["colours"]], colours.float())
    loss = loss + F.binary_cross_entropy_with_logits(cls_logits[:, _CLS_SLICES["shapes"]], shapes.float())
    loss = loss + F.cross_entropy(cls_logits[:, _CLS_SLICES["count"]], batch.count)
    attention = cls_attention / cls_attention.sum(-1, keepdim=True)
    return loss + F.kl_div(attention.clamp(min=1e-8).log(), object_attention_target(batch.owner), reduction="batchmean")


@torch.no_grad()
def measure(
    model: CLIPVisionModel, heads: AttributeHeads, batch: SceneTensors, pixels: torch.Tensor, entry: int
) -> dict:
    """Held-out accuracies, the CLS attention's share on objects, and object coverage by each preset's dominant set.

    The CLS attention is the select layer's CLS query row averaged over heads, which is what V2V ranks patches by;
    it is computed as in training (`forward_select_layer`).
    """
    features, attention = forward_select_layer(model, pixels, entry)
    patch_logits, _ = heads(features)
    pooled, present = _pooled(patch_logits, batch.owner)
    is_object = batch.owner > 0
    result: dict[str, float] = {"patch_is_object": float(((patch_logits[..., 0] > 0) == is_object).float().mean())}
    for name, values in (("colour", batch.colour), ("shape", batch.shape), ("side", batch.side)):
        cut = _PATCH_SLICES[name]
        targets = _per_patch(values, batch.owner)
        result[f"patch_{name}"] = float((patch_logits[..., cut].argmax(-1) == targets)[is_object].float().mean())
        result[f"object_{name}"] = float((pooled[..., cut].argmax(-1) == values)[present].float().mean())
    result["cls_attention_on_objects"] = float((attention * is_object).sum(-1).mean())
    result["object_area"] = float(is_object.float().mean())
    for name, config in DEMO_PRESETS.items():
        top = attention.topk(config.dominant - 1, dim=-1).indices  # V2V's dominant count includes CLS
        kept = batch.owner.gather(1, top)
        covered = [len(set(row.tolist()) - {0}) for row in kept]
        objects = [len(set(row.tolist()) - {0}) for row in batch.owner]
        result[f"objects_in_dominant_{name}"] = sum(covered) / max(1, sum(objects))
    return result


def identity(config: dict, recipe: TowerRecipe) -> dict:
    """Everything that determines the trained weights: the tower's config, the recipe, the scene generator."""
    geometry = ("MIN_RADIUS_FRACTION", "MAX_RADIUS_FRACTION", "MIDLINE_MARGIN_FRACTION", "BACKGROUND")
    return {
        "format": FORMAT_VERSION,
        "config": {k: v for k, v in config.items() if k not in ("transformers_version", "_name_or_path")},
        "recipe": asdict(recipe),
        "scenes": {name: getattr(scene_lib, name) for name in geometry},
        "colours": COLOURS,
        "shapes": SHAPES,
        "owner_coverage": OWNER_COVERAGE,
    }


def train(base: Path, recipe: TowerRecipe, out: Path, select_layer: int = -2) -> dict:
    """Train the tower in `base` (a CLIP folder) by `recipe` and save it to `out`; returns the training record."""
    torch.manual_seed(recipe.seed)
    processor = load_image_processor(base)
    model = CLIPVisionModel.from_pretrained(base, attn_implementation="sdpa")
    entry = select_layer_entry(model, select_layer)
    size, patch = model.config.image_size, model.config.patch_size
    train_set = draw_scenes(recipe.train_scenes, f"{recipe.seed}-tower-train", size, patch)
    eval_set = draw_scenes(recipe.eval_scenes, f"{recipe.seed}-tower-eval", size, patch)
    processor.image_mean, processor.image_std = pixel_statistics(train_set.pixels)
    heads = AttributeHeads(model.config.hidden_size)
    position = model.embeddings.position_embedding.weight
    rest = [p for p in [*model.parameters(), *heads.parameters()] if p is not position]
    optimizer = torch.optim.AdamW([{"params": rest}, {"params": [position]}], lr=recipe.learning_rate, weight_decay=0.0)
    peaks = [recipe.learning_rate, recipe.learning_rate * recipe.position_lr_scale]
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, peaks, total_steps=recipe.steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(recipe.seed)
    model.train()
    losses: list[dict[str, float]] = []
    started = time.perf_counter()
    bar = tqdm(range(recipe.steps), desc="tower pretraining", unit="step")
    for step in bar:
        batch = train_set.take(torch.randint(len(train_set), (recipe.batch_size,), generator=generator))
        features, cls_attention = forward_select_layer(model, normalise(batch.pixels, processor), entry)
        loss = attribute_loss(*heads(features), cls_attention, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 10 == 0 or step == recipe.steps - 1:
            losses.append({"step": step + 1, "loss": loss.item()})
            bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - started
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    metrics = measure(model, heads.eval(), eval_set, normalise(eval_set.pixels, processor), entry)
    record = {"recipe": asdict(recipe), "train_seconds": seconds, "log_history": losses, "held_out": metrics}
    (out / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
    return record


def trained_tower(base: Path, cache: Path, recipe: TowerRecipe) -> Path:
    """The cached tower for (base config, recipe), training it first when absent."""
    config = json.loads((Path(base) / "config.json").read_text())

    def build(folder: Path) -> None:
        record = train(Path(base), recipe, folder)
        held_out = record["held_out"]
        print(
            f"[tower] trained in {record['train_seconds']:.0f} s; held-out objects: colour "
            f"{held_out['object_colour']:.2f}, shape {held_out['object_shape']:.2f}, side {held_out['object_side']:.2f}; "
            f"CLS attention on objects {held_out['cls_attention_on_objects']:.2f} "
            f"(they cover {held_out['object_area']:.2f} of the patches)",
            file=sys.stderr,
        )

    return cached_folder(cache, Path(base).name, recipe.seed, identity(config, recipe), TRAINING_RECORD, build)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the randomly initialised CLIP folder to start from")
    parser.add_argument(
        "--cache", default="checkpoints/towers", help="where trained towers are kept (default: %(default)s)"
    )
    defaults = TowerRecipe()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the trained tower's folder on stdout (progress and measurements go to stderr), for scripts to capture."""
    args = parse_args(argv)
    recipe = TowerRecipe(**{name: getattr(args, name) for name in asdict(TowerRecipe())})
    print(trained_tower(Path(args.base), Path(args.cache), recipe))


if __name__ == "__main__":
    main()
