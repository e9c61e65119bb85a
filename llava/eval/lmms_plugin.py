"""`duet_llava`: an lmms-eval model that runs any `generate_until` task through this codebase, under a DUET preset.

    lmms-eval --model duet_llava --model_args pretrained=liuhaotian/llava-v1.5-7b,duet_preset=llava-1.5:64 \\
        --tasks pope,gqa,mme --batch_size 1 --output_path logs/

Registered through lmms-eval's entry-point group `lmms_eval.models` (`llava.eval.lmms_manifest`), so the installed
lmms-eval is used as it is. `--model_args` keys:
- `pretrained` (required): a checkpoint folder or hub id; `model_base` for LoRA / projector-only checkpoints;
- `duet_preset` and the eval CLIs' DUET flags under their underscore names (`dominant`, `contextual`, `cluster_width`,
  `v2v_mode`, `layer_list="[16,24]"`, `image_token_ratio_list="[0.5,0.0]"`, `t2v_query`, `t2v_position_ids`,
  `compute_salient_tokens`), resolved exactly as `--duet-preset ...` on a generator (`llava.eval.duet_args`);
- `conv_template` (default vicuna_v1), `batch_size` (default 1; batches are left-padded and answer as batch size 1
  does), `device`, `attn_implementation`, `vision_tower`.
Under `accelerate launch --num_processes N -m lmms_eval ...` each process loads the model on its own GPU and answers
its shard of the requests (lmms-eval gathers them).

Each request's context gets one `<image>` line per image in front (unless it already holds `<image>`), is rendered
by the conversation template, and in DUET's salient mode gets the query mask of the context, as LLaVA's generators
do. `gen_kwargs` are honoured: `max_new_tokens` (default 1024, as lmms-eval's llava), `temperature` (0 = greedy),
`top_p`, `num_beams`, `until` (the answer is cut at the first stop string), and a task's `image_aspect_ratio`.
`loglikelihood` (multiple-choice by perplexity) and multi-round generation are not provided: such tasks fail with an
error saying so.
"""

import argparse
from collections.abc import Sequence
from typing import Any

from accelerate import PartialState
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from llava.eval.duet_args import DuetArgsError, duet_config_from_args, parse_bool
from llava.eval.lmms_backends import Backend, Request, select_backend

DUET_KEYS = ("duet_preset", "dominant", "contextual", "cluster_width", "v2v_mode", "layer_list",
             "image_token_ratio_list", "t2v_query", "t2v_position_ids", "compute_salient_tokens")  # fmt: skip
DEFAULT_MAX_NEW_TOKENS = 1024


def duet_namespace(values: dict[str, Any]) -> argparse.Namespace:
    """The DUET model_args as the eval CLIs' parsed flags (lists as their text, booleans parsed)."""
    namespace = argparse.Namespace(**{key: None for key in DUET_KEYS})
    for key, value in values.items():
        if value is None:
            continue
        if key in ("layer_list", "image_token_ratio_list"):
            value = [str(value)]
        elif key == "compute_salient_tokens":
            value = value if isinstance(value, bool) else parse_bool(str(value))
        elif key in ("dominant", "contextual", "cluster_width"):
            value = int(value)
        else:
            value = str(value)
        setattr(namespace, key, value)
    return namespace


class DuetLlava(lmms):
    """lmms-eval's simple-model API over this codebase's hosts (see the module docstring)."""

    is_simple = True

    def __init__(
        self,
        pretrained: str,
        model_base: str | None = None,
        conv_template: str = "vicuna_v1",
        batch_size: int | str = 1,
        device: str | None = None,
        attn_implementation: str | None = None,
        vision_tower: str | None = None,
        **duet_and_unknown: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(duet_and_unknown) - set(DUET_KEYS))
        if unknown:
            raise ValueError(
                f"duet_llava: unknown model_args {unknown}; accepted: pretrained, model_base, conv_template, "
                f"batch_size, device, attn_implementation, vision_tower, {', '.join(DUET_KEYS)}"
            )
        try:
            duet = duet_config_from_args(duet_namespace(duet_and_unknown))
        except DuetArgsError as error:
            raise ValueError(f"duet_llava model_args: {error}") from None
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"duet_llava: batch_size must be >= 1, got {batch_size}")
        state = PartialState()
        if state.num_processes > 1:  # `accelerate launch -m lmms_eval`: one model per process, requests sharded by rank
            self._rank, self._world_size = state.process_index, state.num_processes
            device = device or f"cuda:{state.local_process_index}"
        backend_class = select_backend(str(pretrained))
        self.backend: Backend = backend_class(
            pretrained=str(pretrained),
            model_base=model_base,
            duet=duet,
            duet_preset=duet_and_unknown.get("duet_preset"),
            conv_template=conv_template,
            device=device,
            attn_implementation=attn_implementation,
            vision_tower=vision_tower,
        )

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Answers in request order; consecutive requests with equal gen_kwargs share a batch."""
        prepared = [self._prepare(request) for request in requests]
        answers: list[str] = []
        start = 0
        while start < len(prepared):
            end = start + 1
            while (
                end < len(prepared) and end - start < self.batch_size and prepared[end].same_decoding(prepared[start])
            ):
                end += 1
            answers.extend(self.backend.generate(prepared[start:end]))
            start = end
        return answers

    def _prepare(self, instance: Instance) -> Request:
        context, gen_kwargs, doc_to_visual, doc_id, task, split = instance.args
        visuals = doc_to_visual(self.task_dict[task][split][doc_id]) if doc_to_visual is not None else []
        kwargs = dict(gen_kwargs or {})
        until = kwargs.pop("until", None)
        until = [until] if isinstance(until, str) else list(until or [])
        return Request(
            context=context,
            images=[v for v in (visuals or []) if v is not None],
            max_new_tokens=int(kwargs.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
            temperature=float(kwargs.get("temperature", 0) or 0),
            top_p=kwargs.get("top_p"),
            num_beams=int(kwargs.get("num_beams", 1) or 1),
            until=tuple(u for u in until if u),
            image_aspect_ratio=kwargs.get("image_aspect_ratio"),
        )

    def loglikelihood(self, requests: Sequence[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            "duet_llava answers generate_until tasks; this task scores by log-likelihood (e.g. seedbench_ppl). Use "
            "the generate variant of the task (e.g. seedbench) instead."
        )

    def generate_until_multi_round(self, requests: Sequence[Instance]) -> list[str]:
        raise NotImplementedError("duet_llava does not implement multi-round generation tasks")
