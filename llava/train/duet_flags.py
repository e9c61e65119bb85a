"""Turn DUET's training flags into a `DuetConfig` (or None: train without compression).

The authors' scripts pass `--layer_list [16,24] --image_token_ratio_list [0.5,0.0]` as single strings; users also
write `--layer_list 16 24`. Both forms are accepted. Explicit flags override the preset's fields, so
`--duet_preset llava-1.5:128 --t2v_query instruction` is the 128 preset with the authors' released query set.
"""

import re
from dataclasses import asdict

from duet.config import DuetConfig
from llava.train.arguments import DuetArguments

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def parse_number_list(values: list[str] | None, flag: str, kind: type) -> tuple | None:
    """`["[16,24]"]`, `["16", "24"]` or `["16,24"]` → `(16, 24)`; anything but numbers, brackets, commas is an error."""
    if values is None:
        return None
    text = " ".join(values)
    leftover = _NUMBER.sub("", text).replace("[", "").replace("]", "").replace(",", "").strip()
    if leftover:
        raise ValueError(f"--{flag} {text!r}: expected numbers such as '[16,24]' or '16 24', found {leftover!r}.")
    numbers = _NUMBER.findall(text)
    if kind is int:
        if any(not re.fullmatch(r"[-+]?\d+", n) for n in numbers):
            raise ValueError(f"--{flag} {text!r}: layers are whole numbers, e.g. '[16,24]'.")
        return tuple(int(n) for n in numbers)
    return tuple(float(n) for n in numbers)


def duet_config_from_args(args: DuetArguments) -> DuetConfig | None:
    """The DUET setting the flags describe; None when no compression flag is given (or the preset is `full`)."""
    fields: dict = asdict(DuetConfig.from_preset(args.duet_preset)) if args.duet_preset else {}
    explicit = {
        "dominant": args.dominant_num,
        "contextual": args.context_num,
        "cluster_width": args.cluster_width,
        "layer_list": parse_number_list(args.layer_list, "layer_list", int),
        "ratio_list": parse_number_list(args.image_token_ratio_list, "image_token_ratio_list", float),
    }
    compression = {k: v for k, v in explicit.items() if v is not None}
    modes = {k: v for k, v in {"query": args.t2v_query, "position_ids": args.t2v_position_ids}.items() if v is not None}
    if not fields and not compression:
        if modes:
            raise ValueError(
                "--t2v_query / --t2v_position_ids only apply with DUET on: add --duet_preset NAME or "
                "--dominant_num/--context_num/--layer_list/--image_token_ratio_list."
            )
        return None
    config = DuetConfig(**{**fields, **compression, **modes})
    return None if config.is_full else config
