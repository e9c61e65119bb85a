"""LLaVA's `eval_gpt_review_bench`: LLaVA-Bench-in-the-Wild reviews by an LLM judge (GPT-4 in the paper).

    python llava/eval/eval_gpt_review_bench.py \\
        --question playground/data/eval/llava-bench-in-the-wild/questions.jsonl \\
        --context playground/data/eval/llava-bench-in-the-wild/context.jsonl --rule llava/eval/table/rule.json \\
        --answer-list playground/data/eval/llava-bench-in-the-wild/answers_gpt4.jsonl answers/llava-v1.5-7b.jsonl \\
        --output reviews/llava-v1.5-7b.jsonl [--judge-model gpt-4-0314 --api-base URL --api-key-env OPENAI_API_KEY]

For each question the judge sees LLaVA's exact content — the image's caption as [Context], the [Question], the
reference answer as "Assistant 1" and the model's as "Assistant 2", and the category's rule prompt from
`rule.json` — under LLaVA's system message, at temperature 0.2. The first line of the review must hold the two
scores ("8 7" or "8,7"; LLaVA's split reads "8, 7" as three pieces, so it is not a score); `summarize_gpt_review` turns the reviews into the relative score.

Output lines keep LLaVA's fields (`id, question_id, answer1_id, answer2_id, category, content`; the score pair is
`parsed`, LLaVA's `tuple`), plus the judge module's (`item_id`, `judge_model`, `attempts`). Differences from LLaVA: answers are matched to
questions by `question_id` (LLaVA zips the three files by line, so a reordered or short answers file silently
misaligns); a review whose first line is not two numbers is retried and, if it never is, reported and left out
(LLaVA recorded the pair -1, -1 and averaged it in); reviews run concurrently through `llava.eval.judge`.
"""

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from llava.eval.answer_records import AnswersFileError, check_known, read_answers, read_jsonl
from llava.eval.judge import (
    JudgeClient,
    JudgeOutcome,
    JudgeRequest,
    MalformedReply,
    add_judge_args,
    policy_from_args,
    run_judge,
)

SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the quality of the answer."
DEFAULT_JUDGE = "gpt-4-0314"
TEMPERATURE = 0.2
CATEGORY_PREFIX = "llava_bench_"


def parse_score(review: str) -> list[float]:
    """LLaVA's rule: the review's first line, commas read as spaces, split on single spaces, must be two numbers."""
    pair = review.split("\n")[0].replace(",", " ").split(" ")
    if len(pair) != 2:
        raise MalformedReply(f"the first line must hold exactly two scores, got {review.splitlines()[0:1]}")
    try:
        return [float(pair[0]), float(pair[1])]
    except ValueError:
        raise MalformedReply(f"the first line's scores are not numbers: {pair}") from None


def review_content(caption: str, question: str, answer1: str, answer2: str, rule: Mapping[str, str]) -> str:
    """LLaVA's review prompt, character for character."""
    role = rule["role"]
    return (
        f"[Context]\n{caption}\n\n"
        f"[Question]\n{question}\n\n"
        f"[{role} 1]\n{answer1}\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\n{answer2}\n\n[End of {role} 2]\n\n"
        f"[System]\n{rule['prompt']}\n\n"
    )


def build_requests(
    questions: Sequence[dict],
    contexts: Sequence[dict],
    rules: Mapping[str, Mapping[str, str]],
    reference: Mapping[object, dict],
    answers: Mapping[object, dict],
    max_tokens: int,
) -> list[JudgeRequest]:
    image_to_context = {context["image"]: context for context in contexts}
    requests = []
    for index, question in enumerate(questions):
        qid = question["question_id"]
        for name, answer_set in (("reference", reference), ("model", answers)):
            if qid not in answer_set:
                raise AnswersFileError(f"the {name} answers have no answer to question {qid!r}")
        if question["image"] not in image_to_context:
            raise AnswersFileError(f"context file has no caption for image {question['image']!r}")
        caption = image_to_context[question["image"]]["caption"]
        caption = "\n".join(caption) if isinstance(caption, list) else caption
        category = CATEGORY_PREFIX + question["category"]
        if category not in rules:
            raise AnswersFileError(f"Visual QA category not found in rule file: {category}.")
        ans1, ans2 = reference[qid], answers[qid]
        content = review_content(caption, question["text"], ans1["text"], ans2["text"], rules[category])
        extra = {
            "id": index + 1,
            "question_id": qid,
            "answer1_id": ans1.get("answer_id", ans1["question_id"]),
            "answer2_id": ans2.get("answer_id", ans2["question_id"]),
            "category": category,
        }
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
        requests.append(JudgeRequest(str(qid), messages, TEMPERATURE, max_tokens, extra))
    return requests


def parse_review(request: JudgeRequest, reply: str) -> list[float]:
    return parse_score(reply)


def review(args: argparse.Namespace, client: JudgeClient | None = None) -> JudgeOutcome:
    questions = read_jsonl(args.question)
    if len(args.answer_list) != 2:
        raise SystemExit("--answer-list takes two files: the reference answers (answers_gpt4.jsonl) and the model's")
    reference, answers = (read_answers(path, key=lambda r: r["question_id"]) for path in args.answer_list)
    question_ids = [q["question_id"] for q in questions]
    check_known(answers, question_ids, args.answer_list[1], args.question)
    rules = json.loads(Path(args.rule).expanduser().read_text())
    requests = build_requests(questions, read_jsonl(args.context), rules, reference, answers, args.max_tokens)
    outcome = run_judge(
        requests,
        parse_review,
        client or JudgeClient.from_args(args),
        args.output,
        args.judge_workers,
        policy_from_args(args),
    )
    outcome.require_complete([r.item_id for r in requests])
    return outcome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--question", required=True)
    parser.add_argument("-c", "--context", required=True)
    parser.add_argument("-a", "--answer-list", nargs="+", default=[], help="reference answers, then the model's")
    parser.add_argument("-r", "--rule", default=str(Path(__file__).with_name("table") / "rule.json"))
    parser.add_argument("-o", "--output", required=True, help="reviews (JSON lines; resumed when it exists)")
    parser.add_argument("--max-tokens", type=int, default=1024, help="maximum number of tokens produced in the output")
    add_judge_args(parser, DEFAULT_JUDGE)
    return parser


def main(argv: Sequence[str] | None = None) -> JudgeOutcome:
    return review(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
