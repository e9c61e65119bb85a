"""VQA accuracy of VQAv2 / VizWiz val answers, as the official VQA evaluation (`vqaEval.py`) computes it.

    python -m llava.eval.eval_vqa --benchmark vqav2 --question-file vqav2/llava_vqav2_mscoco_val2014.jsonl \\
        --annotation-file vqav2/v2_mscoco_val2014_annotations.json --result-file answers/.../merge.jsonl
    python -m llava.eval.eval_vqa --benchmark vizwiz --question-file vizwiz/llava_val.jsonl \\
        --annotation-file vizwiz/val.json --result-file answers/.../answers.jsonl

The test splits are scored by the EvalAI servers (the `convert_*_for_submission.py` upload files); this scores the
val splits locally, on exactly what would be uploaded: each answer is first normalised by EvalAI's processor, as the
converters do. Then, per question, with the official script's quirks kept:
- answers (prediction and the 10 human answers) have newlines/tabs replaced by spaces and are stripped;
- only when the human answers disagree are they and the prediction punctuation- and digit/article-normalised
  (`processPunctuation`, `processDigitArticle`);
- accuracy = mean over the 10 humans of min(1, matches among the OTHER 9 / 3);
overall and per answer type = 100 x mean, printed rounded to 2 decimals.

The scored questions are those of `--question-file` (LLaVA's JSON-lines format); every one needs an answer and an
annotation (VQAv2: by `question_id`; VizWiz: by the question's `image`, its annotations being keyed by image).
"""

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from llava.eval.answer_records import AnswersFileError, check_known, read_answers, read_jsonl
from llava.eval.m4c_evaluator import ARTICLES, CONTRACTIONS, NUMBER_MAP, PUNCTUATIONS, EvalAIAnswerProcessor
from llava.eval.run_record import add_run_record_args, record_from_answers

# vqaEval.py's own patterns (its comma rule differs from EvalAI's processor: one comma between two digits)
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")


def process_punctuation(text: str) -> str:
    out = text
    for p in PUNCTUATIONS:
        if (p + " " in text or " " + p in text) or COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, int(re.UNICODE))  # the official script passes re.UNICODE as the count


def process_digit_article(text: str) -> str:
    words = [NUMBER_MAP.get(word, word) for word in text.lower().split()]
    words = [CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES]
    return " ".join(words)


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def question_accuracy(prediction: str, human_answers: Sequence[str]) -> float:
    """The official per-question accuracy in [0, 1] (see the module docstring)."""
    humans = [_clean(a) for a in human_answers]
    prediction = _clean(prediction)
    if len(set(humans)) > 1:
        humans = [process_digit_article(process_punctuation(a)) for a in humans]
        prediction = process_digit_article(process_punctuation(prediction))
    scores = []
    for i in range(len(humans)):
        others = humans[:i] + humans[i + 1 :]
        scores.append(min(1.0, sum(a == prediction for a in others) / 3))
    return sum(scores) / len(scores)


def load_annotations(benchmark: str, path: str | Path) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    data = json.loads(path.read_text())
    if benchmark == "vqav2":
        return {a["question_id"]: a for a in data["annotations"]}
    return {a["image"]: a for a in data}


def evaluate(benchmark: str, questions: Sequence[dict], answers: Mapping, annotations: Mapping) -> dict[str, float]:
    process = EvalAIAnswerProcessor()
    by_type: dict[str, list[float]] = defaultdict(list)
    overall = []
    for question in questions:
        qid = question["question_id"]
        if qid not in answers:
            raise AnswersFileError(
                f"question {qid!r} has no answer; every question of --question-file must be answered"
            )
        key = qid if benchmark == "vqav2" else question["image"]
        if key not in annotations:
            raise AnswersFileError(f"no annotation for {key!r}; is --annotation-file the split of --question-file?")
        annotation = annotations[key]
        accuracy = question_accuracy(process(answers[qid]["text"]), [a["answer"] for a in annotation["answers"]])
        overall.append(accuracy)
        by_type[annotation.get("answer_type", "all")].append(accuracy)
    if not overall:
        raise AnswersFileError("the question file has no question")
    result = {"overall": 100 * sum(overall) / len(overall)}
    result.update({f"type_{kind}": 100 * sum(v) / len(v) for kind, v in sorted(by_type.items())})
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True, choices=("vqav2", "vizwiz"))
    parser.add_argument("--question-file", required=True, help="LLaVA-format questions (question_id, image, text)")
    parser.add_argument("--annotation-file", required=True, help="v2_mscoco_val2014_annotations.json / VizWiz val.json")
    parser.add_argument("--result-file", required=True)
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    questions = read_jsonl(args.question_file)
    records = read_jsonl(args.result_file)
    answers = read_answers(args.result_file)
    check_known(answers, [q["question_id"] for q in questions], args.result_file, args.question_file)
    result = evaluate(args.benchmark, questions, answers, load_annotations(args.benchmark, args.annotation_file))
    print(f"Overall Accuracy is: {result['overall']:.2f}")
    for name, value in result.items():
        if name.startswith("type_"):
            print(f"{name.removeprefix('type_')} : {value:.2f}")
    record_from_answers(args, args.benchmark, result["overall"], result, records, args.result_file)
    return result


if __name__ == "__main__":
    main()
