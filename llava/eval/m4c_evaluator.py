"""TextVQA soft accuracy with EvalAI's answer normalisation (the `m4c_evaluator` LLaVA's `eval_textvqa` uses).

Normalisation (applied to the prediction and to each of the 10 human answers):
lower-case; drop "," and "?"; "'s" → " 's"; newlines/tabs → spaces; each punctuation mark in `PUNCTUATIONS` is
deleted when it touches a space (or when the text has a comma between digits), else replaced by a space; periods not
followed by a digit are deleted; number words zero..ten become digits; articles are dropped; contractions missing
their apostrophe are restored.

Score of one prediction: for each of the 10 leave-one-out subsets of the human answers, min(1, matches / 3); the
score is the mean over the 10 subsets. Two matching humans out of ten give (2·1/3 + 8·2/3)/10 = 0.6.

EvalAI's period rule is the regex `(?!<=\\d)(\\.)(?!\\d)` (a typo for a look-behind: it only checks that no digit
FOLLOWS), and it is applied with `re.UNICODE` passed as the replacement *count*; both quirks are kept, because the
published numbers were computed with them.
"""

import re
from collections.abc import Mapping, Sequence

NUM_HUMAN_ANSWERS = 10
MATCHES_FOR_FULL_CREDIT = 3

CONTRACTIONS: Mapping[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at",
    "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip
NUMBER_MAP: Mapping[str, str] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = frozenset({"a", "an", "the"})
PUNCTUATIONS = (
    ";",
    r"/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(?<=\d)(\,)+(?=\d)")
PERIOD_STRIP_COUNT = int(re.UNICODE)  # EvalAI passes re.UNICODE (32) where `sub` expects the count


class EvalAIAnswerProcessor:
    """EvalAI's VQA answer normalisation, as `m4c_evaluator` applies it."""

    def word_tokenize(self, word: str) -> str:
        return word.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()

    def process_punctuation(self, text: str) -> str:
        out = text
        digit_comma = COMMA_STRIP.search(text) is not None
        for p in PUNCTUATIONS:
            if p + " " in text or " " + p in text or digit_comma:
                out = out.replace(p, "")
            else:
                out = out.replace(p, " ")
        return PERIOD_STRIP.sub("", out, count=PERIOD_STRIP_COUNT)

    def process_digit_article(self, text: str) -> str:
        words = [NUMBER_MAP.get(word, word) for word in text.lower().split()]
        words = [CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES]
        return " ".join(words)

    def __call__(self, answer: str) -> str:
        answer = self.word_tokenize(answer)
        answer = answer.replace("\n", " ").replace("\t", " ").strip()
        return self.process_digit_article(self.process_punctuation(answer))


class TextVQAAccuracyEvaluator:
    """Mean soft accuracy of predictions against 10 human answers each."""

    def __init__(self) -> None:
        self.answer_processor = EvalAIAnswerProcessor()

    def answer_scores(self, raw_answers: Sequence[str]) -> dict[str, float]:
        """Soft score of every distinct (normalised) human answer: mean over leave-one-out subsets."""
        if len(raw_answers) != NUM_HUMAN_ANSWERS:
            raise ValueError(f"TextVQA needs {NUM_HUMAN_ANSWERS} human answers per question, got {len(raw_answers)}")
        answers = [self.answer_processor(a) for a in raw_answers]
        scores = {}
        for candidate in set(answers):
            matches = answers.count(candidate)
            # Leaving out one of the `matches` equal answers leaves matches-1; leaving out any other leaves matches.
            subsets = [min(1.0, (matches - (answer == candidate)) / MATCHES_FOR_FULL_CREDIT) for answer in answers]
            scores[candidate] = sum(subsets) / len(subsets)
        return scores

    def eval_pred_list(self, pred_list: Sequence[Mapping[str, object]]) -> float:
        """Mean score over `[{"pred_answer": str, "gt_answers": [10 str]}]`; 0.0 for an empty list."""
        if not pred_list:
            return 0.0
        total = 0.0
        for entry in pred_list:
            prediction = self.answer_processor(str(entry["pred_answer"]))
            total += self.answer_scores(entry["gt_answers"]).get(prediction, 0.0)
        return total / len(pred_list)
