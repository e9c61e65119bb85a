"""Judge video QA predictions with an OpenAI-compatible chat model and report accuracy and score (Video-LLaVA's
`eval_video_qa.py`, with its flags).

    OPENAI_API_KEY=... python -m llava.eval.video.eval_video_qa \\
        --pred_path eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/Video-LLaVA-7B/merge.jsonl \\
        --output_dir eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/Video-LLaVA-7B/gpt \\
        --output_json eval/GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA/Video-LLaVA-7B/results.json \\
        --benchmark msvd [--judge-model gpt-3.5-turbo] [--api_base URL] [--num_tasks 8] [--run-record runs/msvd.json]

`--pred_path` holds one JSON object per line with `id`, `question`, `answer`, `pred` (`run_inference_video_qa`'s
output; the original's merge files work too). Every judged item is kept in `<output_dir>/judge.jsonl`, so an
interrupted or partly failed run continues where it stopped; items whose calls failed or whose replies were not the
expected dict are reported, not counted, and nothing is scored until all are judged (rerun the same command).
`--output_json` is the original's combined file `{id: [{"pred", "score"}, {"q", "a", "pred"}]}`. The API key comes
from an environment variable (`--api-key-env`, default OPENAI_API_KEY), never from a flag.

Output: "Accuracy" (yes / (yes + no)) and "Average score" as the original prints them, and with `--run-record` a run
record for `python -m llava.eval.summarize` (benchmark = `--benchmark`, score = accuracy in %, metrics["score"] =
the mean 0-5 score). The paper's video number is the relative accuracy averaged over TGIF, MSVD and MSRVTT:
`python -m llava.eval.summarize RUNS --average-set tgif msvd msrvtt`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import AnswersFileError, index_answers, read_jsonl
from llava.eval.judge import JudgeClient, JudgeIncomplete, add_judge_args, policy_from_args, run_judge
from llava.eval.run_record import add_run_record_args, record_from_answers
from llava.eval.video.qa_files import BENCHMARKS
from llava.eval.video.video_judge import (
    DEFAULT_JUDGE_MODEL,
    VideoQAScores,
    aggregate,
    parse_video_qa_reply,
    video_qa_request,
)

JUDGE_FILE = "judge.jsonl"


def read_predictions(path: str | Path) -> list[dict]:
    """Prediction records, each with `id`, `question`, `answer`, `pred`; ids must be unique."""
    records = read_jsonl(path)
    for number, record in enumerate(records, start=1):
        missing = [key for key in ("id", "question", "answer", "pred") if key not in record]
        if missing:
            raise AnswersFileError(f"{path}: prediction {number} lacks {missing} (needs id, question, answer, pred)")
    index_answers(records, path, key=lambda r: str(r["id"]))
    return records


def combined_results(records: Sequence[dict], judged: dict[str, dict]) -> dict[str, list[dict]]:
    """The original's `results.json`: `{id: [verdict, {"q", "a", "pred"}]}`."""
    return {
        str(r["id"]): [judged[str(r["id"])]["parsed"], {"q": r["question"], "a": r["answer"], "pred": r["pred"]}]
        for r in records
    }


def evaluate(args: argparse.Namespace) -> VideoQAScores:
    records = read_predictions(args.pred_path)
    output_dir = Path(args.output_dir).expanduser()
    requests = [video_qa_request(str(r["id"]), r["question"], r["answer"], r["pred"]) for r in records]
    outcome = run_judge(
        requests,
        parse_video_qa_reply,
        JudgeClient.from_args(args),
        output_dir / JUDGE_FILE,
        workers=args.judge_workers,
        policy=policy_from_args(args),
    )
    outcome.require_complete([request.item_id for request in requests])
    scores = aggregate(outcome.results[request.item_id]["parsed"] for request in requests)
    if args.output_json:
        path = Path(args.output_json).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(combined_results(records, outcome.results)))
    print(f"Yes count: {scores.yes}")
    print(f"No count: {scores.no}")
    print(f"Accuracy: {scores.accuracy}")
    print(f"Average score: {scores.mean_score}")
    if args.run_record:
        if args.benchmark is None:
            raise SystemExit("--run-record needs --benchmark (msvd, msrvtt, tgif or activitynet)")
        metrics = {**scores.metrics(), "judge_model": args.judge_model}
        record_from_answers(args, args.benchmark, 100.0 * scores.accuracy, metrics, records, args.pred_path)
    return scores


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pred_path", "--pred-path", dest="pred_path", required=True, help="predictions (JSON lines)")
    parser.add_argument("--output_dir", "--output-dir", dest="output_dir", required=True,
                        help=f"folder for the judged items ({JUDGE_FILE}; kept across runs)")  # fmt: skip
    parser.add_argument("--output_json", "--output-json", dest="output_json", default=None,
                        help="also write the original's combined results.json here")  # fmt: skip
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default=None, help="names the run record")
    parser.add_argument("--api_key", "--api-key", dest="api_key", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--num_tasks", "--num-tasks", dest="num_tasks", type=int, default=None,
                        help="the original's parallelism flag: same as --judge-workers")  # fmt: skip
    add_judge_args(parser, DEFAULT_JUDGE_MODEL)
    parser.add_argument("--api_base", dest="api_base", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # original
    add_run_record_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> VideoQAScores:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_key:
        parser.error(
            "--api_key is not accepted (a key on the command line ends up in shell history and logs); export it as "
            "OPENAI_API_KEY, or name another variable with --api-key-env"
        )
    if args.num_tasks is not None:
        args.judge_workers = args.num_tasks
    try:
        return evaluate(args)
    except (AnswersFileError, FileNotFoundError) as error:
        parser.error(str(error))
    except JudgeIncomplete as error:
        print(f"[eval_video_qa] {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
