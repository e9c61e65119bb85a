"""A tiny Vicuna-style tokenizer, trained locally, for tests and CPU demos that cannot download Vicuna's.

It reproduces the properties of `lmsys/vicuna-7b-v1.5`'s tokenizer (as transformers 5 loads it) that LLaVA's
prompt building and label masking depend on, at a vocabulary of 1000 instead of 32000:

- ids 0, 1, 2 are `<unk>`, `<s>`, `</s>`; ids 3..258 are the 256 byte tokens `<0x00>`..`<0xFF>`, so any text
  encodes (bytes stand in for characters the BPE never saw, and `"\\n"` is always `<0x0A>`, as in Llama);
- sentencepiece-style spaces: a `Metaspace` pre-tokenizer with `"▁"` prepended to the start of the text only
  (`prepend_scheme="first"`, transformers 5's non-legacy Llama behaviour), so `"</s>USER"` has no `"▁"` before
  `USER` while a string starting with `USER` has;
- the post-processor prepends `<s>` and never appends `</s>`; a literal `"</s>"` inside text is the eos token;
- `pad_token` is `<unk>` and padding is on the right, as LLaVA v1 training sets them.

The BPE merges are learned from a small built-in corpus (LLaVA prompts of synthetic shape questions rendered with
every template in `llava.conversation`, common English words, digits and punctuation), so test prompts split into
word-like pieces as real ones do. As in Llama's sentencepiece model, no piece joins letters with punctuation or
holds two digits. Training is deterministic; the trained backend is cached in-process as its JSON string, and
each call builds a fresh `PreTrainedTokenizerFast` from it, so callers may mutate their copy freely.
"""

import functools
import itertools
import json

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from llava.conversation import conv_templates

UNK_TOKEN = "<unk>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
SPECIAL_TOKENS: tuple[str, ...] = (UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)
BYTE_TOKENS: tuple[str, ...] = tuple(f"<0x{b:02X}>" for b in range(256))
TINY_VOCAB_SIZE = 1000
SPACE_MARK = "▁"

_EXTRA_TEXTS: tuple[str, ...] = (
    "Answer the question using a single word or phrase.",
    "Answer with the option's letter from the given choices directly.",
    "Describe the image. What is shown in the picture? Give a brief description of the image.",
)
_COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "orange", "purple", "black", "white", "gray", "pink")
_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "rectangle", "star", "diamond", "ellipse", "hexagon")
_COUNTS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_PLACES: tuple[str, ...] = ("left", "right", "top", "bottom", "middle", "center", "corner", "above", "below")
_COMMON_WORDS: str = (
    "the of and to a in is it you that he was for on are with as I his they be at one have this from or had by "
    "not word but what some we can out other were all there when up use your how said an each she which do "
    "their time if will way about many then them write would like so these her long make thing see him two has "
    "look more day could go come did number sound no most people my over know water than call first who may "
    "down side been now find any new work part take get place made live where after back little only round man "
    "year came show every good me give our under name very through just form sentence great think say help low "
    "line differ turn cause much mean before move right boy old too same tell does set three want air well also "
    "play small end put home read hand port large spell add even land here must big high such follow act why "
    "ask men change went light kind off need house picture try us again animal point mother world near build "
    "self earth father head stand own page should country found answer school grow study still learn plant "
    "cover food sun between state keep eye never last let thought city tree cross farm hard start might story "
    "saw far sea draw left late run don't while press close night real life few north open seem together next "
    "yes image photo question option letter color colour shape object objects scene background size"
)


def _corpus() -> list[str]:
    """The training texts, in a fixed order: LLaVA prompts of shape questions, common words, numbers.

    Newlines are replaced by spaces so that `"\\n"` stays the byte token `<0x0A>`, as in Llama's vocabulary.
    """
    rounds = []
    for colour, shape in itertools.product(_COLOURS, _SHAPES):
        count, place = _COUNTS[len(colour) % len(_COUNTS)], _PLACES[len(shape) % len(_PLACES)]
        rounds.append((f"What color is the {shape}?", f"The {shape} is {colour}."))
        rounds.append((f"How many {colour} {shape}s are there?", f"{count.capitalize()}."))
        rounds.append((f"Is the {colour} {shape} on the left or the right?", f"It is on the {place}."))
    texts = []
    templates = {id(template): template for template in conv_templates.values()}.values()  # aliases once
    for template in templates:
        for first, second in zip(rounds[0::2], rounds[1::2], strict=True):
            conv = template.copy()
            for question, answer in (first, second):
                conv.append_message(conv.roles[0], question)
                conv.append_message(conv.roles[1], answer)
            texts.append(conv.get_prompt().replace("\n", " "))
    short_answers = " ".join(f"{word.capitalize()}." for word in (*_COLOURS, *_COUNTS, "yes", "no"))
    numbers = " ".join(str(n) for n in range(101)) + " 0.5 1,000 10% (A) (B) (C) (D) A. B. C. D. ! ? ; : - \" ' /"
    return [*texts, *_EXTRA_TEXTS, short_answers, _COMMON_WORDS, numbers]


@functools.lru_cache(maxsize=1)
def _trained_backend_json() -> str:
    """Train the BPE once per process; a JSON string is immutable, so the cache cannot be corrupted by callers."""
    learner = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    # Like sentencepiece's defaults for Llama: no piece crosses a space, joins letters and punctuation, or holds
    # more than one digit.
    learner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=SPACE_MARK, prepend_scheme="first", split=True),
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE - len(BYTE_TOKENS), special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    learner.train_from_iterator(_corpus(), trainer=trainer)
    learned = sorted(learner.get_vocab().items(), key=lambda item: item[1])
    pieces = [piece for piece, _ in learned if piece not in SPECIAL_TOKENS]
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *BYTE_TOKENS, *pieces])}
    if len(vocab) != TINY_VOCAB_SIZE:
        raise RuntimeError(f"tiny tokenizer corpus yields {len(vocab)} tokens, expected {TINY_VOCAB_SIZE}")
    merges = [tuple(pair) for pair in _merges_of(learner)]

    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=UNK_TOKEN, fuse_unk=True, byte_fallback=True))
    # Only the Metaspace step is kept, with split=False, as in transformers 5's LlamaTokenizer: no learned merge
    # crosses a space, a punctuation mark or a digit, so the encodings equal those of the training pre-tokenizer.
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE_MARK, prepend_scheme="first", split=False)
    backend.decoder = decoders.Sequence(
        [decoders.Replace(SPACE_MARK, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN}:0 $A:0",
        pair=f"{BOS_TOKEN}:0 $A:0 {BOS_TOKEN}:1 $B:1",
        special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN])],
    )
    return backend.to_str()


def _merges_of(learner: Tokenizer) -> list[list[str]]:
    """The learned merges in priority order (the Python `models.BPE` object does not expose them directly)."""
    return json.loads(learner.to_str())["model"]["merges"]


def build_tiny_tokenizer(model_max_length: int = 2048) -> PreTrainedTokenizerFast:
    """A fresh tiny Vicuna-style tokenizer (see the module docstring); identical on every call and every run."""
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_backend_json()),
        unk_token=UNK_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=UNK_TOKEN,
        add_bos_token=True,
        add_eos_token=False,
        padding_side="right",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
