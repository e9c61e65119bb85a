"""Answer a zero-shot video QA benchmark with Video-LLaVA (its `run_inference_video_qa.py`, with its flags).

    python -m llava.eval.video.run_inference_video_qa --model_path LanguageBind/Video-LLaVA-7B \\
        --video_dir eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/videos \\
        --gt_file_question eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/test_q.json \\
        --gt_file_answers eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/test_a.json \\
        --output_dir eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/Video-LLaVA-7B --output_name 1_0 \\
        [--num_chunks N --chunk_idx i] [--duet-preset video-llava:960] [--batch-size 4] [--temporal-attention off]

Writes `<output_dir>/<output_name>.json`, one JSON object per line: `id`, `question`, `answer`, `pred` (the
original's fields, which its judge reads) plus `model_id` and `metadata` (DUET setting, temporal attention, token
counts). As in the original: 8 uniformly sampled frames per video, the `llava_v1` template, greedy decoding up to
1024 new tokens. Differences, all additive:

- **resumable**: a rerun appends to an interrupted output file (after checking it was written by the same model and
  setting) and answers only what is missing; `--overwrite` starts over;
- **batched**: `--batch-size` questions per `generate` call (left-padded; the original uses 1), videos decoded by
  `--num-workers` DataLoader workers, a progress bar;
- **robust**: a missing or undecodable video, or one with fewer than 8 frames, is reported with its file and
  skipped (the others are answered); the skipped ones are listed in `<output_name>.skipped.json`. A question whose
  answer is missing from the answer file stops the run before the model loads (answers are matched by id).
- both layouts: the original checkpoint (temporal attention on by default) and the transformers `-hf` one.

ActivityNet's files are named `v_<video_name>.*`: pass `--video_prefix v_` (or use `run_inference_video_qa_act`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from llava.eval.answer_records import AnswersFileError, ResumableAnswers
from llava.eval.chunking import get_chunk
from llava.eval.cli import parse_eval_args
from llava.eval.decoding import DecodingOptions
from llava.eval.duet_args import add_duet_args
from llava.eval.video.qa_files import QAItem, find_video, read_qa_items
from llava.eval.video.video_hosts import VideoHost, video_host
from llava.mm_utils import get_model_name_from_path
from llava.model.builder import load_pretrained_model
from llava.video.frames import BACKENDS, VideoReadError, read_video_frames

TEMPORAL_CHOICES = {"auto": None, "on": True, "off": False}


class VideoQADataset(Dataset):
    """Decodes each question's video in a DataLoader worker; a failure becomes an `error` entry, not an exception."""

    def __init__(self, items: Sequence[QAItem], video_dir: str, prefix: str, num_frames: int, backend: str) -> None:
        self.items = items
        self.video_dir = video_dir
        self.prefix = prefix
        self.num_frames = num_frames
        self.backend = backend

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        path = find_video(self.video_dir, item.video_name, self.prefix)
        if path is None:
            name = os.path.join(self.video_dir, f"{self.prefix}{item.video_name}.{{mp4,avi,mov,mkv}}")
            return {"item": item, "error": f"{name}: no such video file"}
        try:
            return {"item": item, "frames": read_video_frames(path, self.num_frames, self.backend)}
        except VideoReadError as error:
            return {"item": item, "error": str(error)}


def keep_items(batch: list[dict]) -> list[dict]:
    return batch


def answer_record(item: QAItem, prediction: str, model_id: str, metadata: dict) -> dict:
    return {"id": item.question_id, "question": item.question, "answer": item.answer, "pred": prediction,
            "model_id": model_id, "metadata": metadata}  # fmt: skip


def run(args: argparse.Namespace, duet) -> list[dict]:
    """Answer every question of this chunk not answered yet; returns the skipped ones (id, video, reason)."""
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    items = get_chunk(read_qa_items(args.gt_file_question, args.gt_file_answers), args.num_chunks, args.chunk_idx)
    model_path = os.path.expanduser(args.model_path)
    model_id = get_model_name_from_path(model_path)
    tokenizer, model, processors, _ = load_pretrained_model(
        model_path,
        args.model_base,
        model_id,
        device=args.device,
        attn_implementation=args.attn_implementation,
        duet=duet,
        temporal_attention=TEMPORAL_CHOICES[args.temporal_attention],
    )
    host: VideoHost = video_host(model, tokenizer, processors, args.conv_mode)
    metadata = host.metadata(args.duet_preset)
    output = Path(args.output_dir).expanduser() / f"{args.output_name}.json"
    skipped: list[dict] = []
    options = DecodingOptions.from_args(args)
    with ResumableAnswers(output, model_id, metadata, overwrite=args.overwrite, key=lambda r: str(r["id"])) as answers:
        todo = [item for item in items if item.question_id not in answers.done]
        dataset = VideoQADataset(todo, args.video_dir, args.video_prefix, host.num_frames, args.video_backend)
        loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.num_workers, collate_fn=keep_items)
        progress = tqdm(loader, total=math.ceil(len(todo) / args.batch_size), desc=output.name, unit="batch")
        for batch in progress:
            ready = [entry for entry in batch if "frames" in entry]
            for entry in batch:
                if "error" in entry:
                    skipped.append({"id": entry["item"].question_id, "video_name": entry["item"].video_name,
                                    "reason": entry["error"]})  # fmt: skip
                    tqdm.write(f"[skip] question {entry['item'].question_id}: {entry['error']}", file=sys.stderr)
            if not ready:
                continue
            questions = [entry["item"].question for entry in ready]
            clips: list[np.ndarray] = [entry["frames"] for entry in ready]
            for entry, prediction in zip(ready, host.answer(questions, clips, options), strict=True):
                answers.write(answer_record(entry["item"], prediction, model_id, metadata))
    report_skipped(output, skipped)
    return skipped


def report_skipped(output: Path, skipped: list[dict]) -> None:
    """List the skipped questions next to the answers (or remove a stale list when none were skipped)."""
    path = output.with_name(output.stem + ".skipped.json")
    if not skipped:
        path.unlink(missing_ok=True)
        return
    path.write_text(json.dumps(skipped, indent=2))
    print(
        f"[run_inference_video_qa] {len(skipped)} question(s) skipped (videos missing or unreadable), listed in "
        f"{path}; they are not in {output}. Fix the videos and rerun the same command to answer them.",
        file=sys.stderr,
    )


def build_parser(video_prefix: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--model_path", "--model-path", dest="model_path", required=True, help="Video-LLaVA checkpoint (either layout)")
    add("--model_base", "--model-base", dest="model_base", default=None, help="accepted for the original's flags")
    add("--cache_dir", "--cache-dir", dest="cache_dir", default=None, help="accepted for the original's flags (the "
        "HF cache decides where towers' configs are kept)")  # fmt: skip
    add("--video_dir", "--video-dir", dest="video_dir", required=True, help="folder holding the videos")
    add("--video_prefix", "--video-prefix", dest="video_prefix", default=video_prefix,
        help="file name prefix of the videos (ActivityNet: v_)")  # fmt: skip
    add("--gt_file_question", "--gt-file-question", dest="gt_file_question", required=True, help="test_q.json")
    add("--gt_file_answers", "--gt-file-answers", dest="gt_file_answers", required=True, help="test_a.json")
    add("--output_dir", "--output-dir", dest="output_dir", required=True, help="where the answers file goes")
    add("--output_name", "--output-name", dest="output_name", required=True, help="answers file name, without .json")
    add("--num_chunks", "--num-chunks", dest="num_chunks", type=int, default=1, help="split the questions in N chunks")
    add("--chunk_idx", "--chunk-idx", dest="chunk_idx", type=int, default=0, help="answer only this chunk")
    add("--device", default=None, help="cuda, cuda:1, cpu, ... (default: cuda when available)")
    add("--model_max_length", "--model-max-length", dest="model_max_length", type=int, default=None,
        help="accepted for the original's flags (the checkpoint's tokenizer_model_max_length applies)")  # fmt: skip
    add("--attn-implementation", "--attn_implementation", dest="attn_implementation", default=None)
    add("--conv-mode", "--conv_mode", dest="conv_mode", default="llava_v1", help="chat template (llava_v1)")
    add("--temporal-attention", "--temporal_attention", dest="temporal_attention", choices=list(TEMPORAL_CHOICES),
        default="auto", help="video tower's temporal attention: auto = on when the checkpoint has it")  # fmt: skip
    add("--video-backend", "--video_backend", dest="video_backend", choices=BACKENDS, default="pyav")
    add("--batch-size", "--batch_size", dest="batch_size", type=int, default=1, help="questions per generate call")
    add("--num-workers", "--num_workers", dest="num_workers", type=int, default=4, help="video decoding workers")
    add("--temperature", type=float, default=0.0, help="0 = greedy (the original)")
    add("--top_p", "--top-p", dest="top_p", type=float, default=None)
    add("--num_beams", "--num-beams", dest="num_beams", type=int, default=1)
    add("--max_new_tokens", "--max-new-tokens", dest="max_new_tokens", type=int, default=1024)
    add("--overwrite", action="store_true", help="start the answers file over instead of resuming it")
    add_duet_args(parser)
    return parser


def main(argv: Sequence[str] | None = None, video_prefix: str = "") -> list[dict]:
    parser = build_parser(video_prefix)
    args, duet = parse_eval_args(parser, argv)
    try:
        return run(args, duet)
    except (AnswersFileError, FileNotFoundError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
