"""The Video-ChatGPT judge for zero-shot video QA: its prompt, its reply rule and its two numbers.

Video-LLaVA's `eval_video_qa.py` (from Video-ChatGPT) asks a chat model whether a predicted answer matches the
ground truth and to rate the match 0–5, and expects a Python dict string `{'pred': 'yes'|'no', 'score': int}`:

- **accuracy** = yes / (yes + no), a reply counting as yes when its `pred` contains "yes", else as no when it
  contains "no" (the original's substring rule, in that order);
- **score** = the mean of `int(score)` (the original truncates: 4.8 counts as 4).

The original printed an unparsable reply's error and retried it in its outer loop. Here a reply that is not such a
dict, whose `pred` says neither yes nor no, or whose score is not a number in [0, 5] is `MalformedReply`: retried by
`llava.eval.judge.run_judge`, never counted. The transport (resume, concurrency, backoff) is that module's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llava.eval.judge import JudgeRequest, MalformedReply, literal_dict_reply

DEFAULT_JUDGE_MODEL = "gpt-3.5-turbo"
"""Video-ChatGPT's and Video-LLaVA's judge. DUET's own script used gpt-4.1, so its absolute numbers are lower
(paper.md §3.3, §6 Q9); relative accuracy needs the baseline judged by the same model."""

SYSTEM_PROMPT = (
    "You are an intelligent chatbot designed for evaluating the correctness of generative outputs for question-answer pairs. "
    "Your task is to compare the predicted answer with the correct answer and determine if they match meaningfully. Here's how you can accomplish the task:"
    "------"
    "##INSTRUCTIONS: "
    "- Focus on the meaningful match between the predicted answer and the correct answer.\n"
    "- Consider synonyms or paraphrases as valid matches.\n"
    "- Evaluate the correctness of the prediction compared to the answer."
)


def user_prompt(question: str, answer: str, prediction: str) -> str:
    """The original user message, verbatim (including its double space and example score)."""
    return (
        "Please evaluate the following video-based question-answer pair:\n\n"
        f"Question: {question}\n"
        f"Correct Answer: {answer}\n"
        f"Predicted Answer: {prediction}\n\n"
        "Provide your evaluation only as a yes/no and score where the score is an integer value between 0 and 5, with 5 indicating the highest meaningful match. "
        "Please generate the response in the form of a Python dictionary string with keys 'pred' and 'score', where value of 'pred' is  a string of 'yes' or 'no' and value of 'score' is in INTEGER, not STRING."
        "DO NOT PROVIDE ANY OTHER OUTPUT TEXT OR EXPLANATION. Only provide the Python dictionary string. "
        "For example, your response should look like this: {'pred': 'yes', 'score': 4.8}."
    )


def video_qa_request(item_id: str, question: str, answer: str, prediction: str) -> JudgeRequest:
    """One judge call. The original used the API defaults (temperature 1); 0 is used here so reruns agree."""
    return JudgeRequest(
        item_id=str(item_id),
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_prompt(question, answer, prediction)},
        ],
        temperature=0.0,
        max_tokens=64,
        extra={"id": item_id, "question": question, "answer": answer, "pred": prediction},
    )


def verdict(value: Any) -> str:
    """'yes' / 'no' by the original's substring rule; anything else is malformed."""
    text = str(value).lower()
    if "yes" in text:
        return "yes"
    if "no" in text:
        return "no"
    raise MalformedReply(f"'pred' is {value!r}, neither yes nor no")


def judged_score(value: Any) -> int:
    """`int(score)` as the original, for numbers (or numeric strings) in [0, 5]."""
    if isinstance(value, bool):
        raise MalformedReply(f"'score' is {value!r}, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MalformedReply(f"'score' is {value!r}, not a number") from None
    if not 0.0 <= number <= 5.0:
        raise MalformedReply(f"'score' {number} is outside 0-5")
    return int(number)


def parse_video_qa_reply(request: JudgeRequest, reply: str) -> dict[str, Any]:
    """`{'pred': 'yes'|'no', 'score': int}` from a judge reply, or `MalformedReply`."""
    del request
    value = literal_dict_reply(reply, required=("pred", "score"))
    return {"pred": verdict(value["pred"]), "score": judged_score(value["score"])}


@dataclass(frozen=True)
class VideoQAScores:
    """The two numbers Video-LLaVA reports for a benchmark, with their counts."""

    yes: int
    no: int
    score_sum: int

    @property
    def count(self) -> int:
        return self.yes + self.no

    @property
    def accuracy(self) -> float:
        """yes / (yes + no), a fraction in [0, 1]."""
        if not self.count:
            raise ValueError("no judged answers: accuracy is undefined")
        return self.yes / self.count

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.count

    def metrics(self) -> dict[str, float | int]:
        return {"accuracy": 100.0 * self.accuracy, "score": self.mean_score, "yes": self.yes, "no": self.no,
                "count": self.count}  # fmt: skip


def aggregate(verdicts: Iterable[Mapping[str, Any]]) -> VideoQAScores:
    """Accuracy and mean score over parsed verdicts (`{'pred': 'yes'|'no', 'score': int}`)."""
    yes = no = total = 0
    for parsed in verdicts:
        if parsed["pred"] == "yes":
            yes += 1
        elif parsed["pred"] == "no":
            no += 1
        else:
            raise ValueError(f"a verdict must be 'yes' or 'no', got {parsed['pred']!r}")
        total += int(parsed["score"])
    return VideoQAScores(yes=yes, no=no, score_sum=total)
