"""LLaVA's conversation templates, reproducing `Conversation.get_prompt()` byte for byte.

Checkpoints are trained on these exact strings (`--version plain` / `v1`) and evaluated with them (`--conv-mode
vicuna_v1`), so a single changed space shifts every prompt the model sees. Only the separator styles and templates
LLaVA-1.5 uses with a Vicuna/Llama decoder are kept.

`message_spans()` is an addition: it gives the character span of each message inside the prompt, so label masking
and query masks can be computed from character positions instead of LLaVA's token-count arithmetic.
"""

import dataclasses
from enum import Enum, auto
from typing import Any

from llava.constants import DEFAULT_IMAGE_TOKEN

# A message is its text, None (an open turn the model is to fill), or LLaVA's `(text, PIL image, process mode)`
# triple used by its demos.
Message = str | tuple[str, Any, str] | None

# The first turn `get_prompt` prepends for `*_mmtag` versions when the first message carries an image.
MMTAG_IMAGE_TURN = "<Image><image></Image>"
MMTAG_ACK_TURN = "Received."


class SeparatorStyle(Enum):
    """How turns are joined: `SINGLE` ends every turn with `sep`, `TWO` alternates `sep` / `sep2`, `PLAIN` drops roles."""

    SINGLE = auto()
    TWO = auto()
    PLAIN = auto()


@dataclasses.dataclass
class Conversation:
    """A conversation history and the template that renders it (LLaVA's fields and defaults).

    `messages` holds `[role, message]` lists, as in LLaVA, so callers may fill the last answer in place.
    """

    system: str
    roles: tuple[str, str]
    messages: list[list[Message]]
    offset: int
    sep_style: SeparatorStyle = SeparatorStyle.SINGLE
    sep: str = "###"
    sep2: str | None = None
    version: str = "Unknown"

    def append_message(self, role: str, message: Message) -> None:
        """Add a turn; `message=None` leaves the turn open so the prompt ends with `"ROLE:"` for generation."""
        self.messages.append([role, message])

    def copy(self) -> "Conversation":
        """A copy whose message list can be changed without touching the template it came from."""
        return dataclasses.replace(self, messages=[[role, message] for role, message in self.messages])

    def get_prompt(self) -> str:
        """The prompt string exactly as LLaVA renders it."""
        return "".join(text for text, _ in self._segments())

    def message_spans(self) -> list[tuple[int, int] | None]:
        """For each entry of `messages`, the `(start, end)` character span of its text in `get_prompt()`.

        None for a message that does not appear (None or empty). For a first message carrying an image, the span
        covers the rewritten text, `"<image>\\n"` included.
        """
        spans: list[tuple[int, int] | None] = [None] * len(self.messages)
        position = 0
        for text, index in self._segments():
            if index is not None:
                spans[index] = (position, position + len(text))
            position += len(text)
        return spans

    def _turns(self) -> list[tuple[str, Message, int | None]]:
        """`(role, message, index in messages)` after LLaVA's rewrite of a first message carrying an image.

        LLaVA moves `<image>` to the front of that message (`"<image>\\n" + text`); for `mmtag` versions it instead
        removes it and prepends a synthetic image turn and acknowledgement, which have no index.
        """
        turns: list[tuple[str, Message, int | None]] = [
            (role, message, index) for index, (role, message) in enumerate(self.messages)
        ]
        if not turns or not isinstance(turns[0][1], tuple):
            return turns
        role, message, _ = turns[0]
        text = message[0].replace(DEFAULT_IMAGE_TOKEN, "").strip()
        if "mmtag" in self.version:
            turns[0] = (role, text, 0)
            return [(self.roles[0], MMTAG_IMAGE_TURN, None), (self.roles[1], MMTAG_ACK_TURN, None), *turns]
        turns[0] = (role, f"{DEFAULT_IMAGE_TOKEN}\n{text}", 0)
        return turns

    def _segments(self) -> list[tuple[str, int | None]]:
        """The prompt as consecutive pieces; a message's text is one piece tagged with its index in `messages`."""
        segments: list[tuple[str, int | None]] = []
        if self.sep_style is SeparatorStyle.SINGLE:
            segments.append((self.system + self.sep, None))
            for role, message, index in self._turns():
                if message:
                    segments += [(f"{role}: ", None), (_text_of(message), index), (self.sep, None)]
                else:
                    segments.append((f"{role}:", None))
        elif self.sep_style is SeparatorStyle.TWO:
            seps = (self.sep, self.sep2 or "")
            segments.append((self.system + seps[0], None))
            for i, (role, message, index) in enumerate(self._turns()):
                if message:
                    segments += [(f"{role}: ", None), (_text_of(message), index), (seps[i % 2], None)]
                else:
                    segments.append((f"{role}:", None))
        elif self.sep_style is SeparatorStyle.PLAIN:
            seps = (self.sep, self.sep2 or "")
            segments.append((self.system, None))
            for i, (_, message, index) in enumerate(self._turns()):
                if message:
                    segments += [(_text_of(message), index), (seps[i % 2], None)]
        else:
            raise ValueError(f"Invalid style: {self.sep_style}")
        return segments


def _text_of(message: str | tuple[str, Any, str]) -> str:
    """The text of a message; LLaVA's demo triples carry it first."""
    return message[0] if isinstance(message, tuple) else message


conv_vicuna_v1 = Conversation(
    system="A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    messages=[],
    offset=0,
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)

conv_llava_plain = Conversation(
    system="",
    roles=("", ""),
    messages=[],
    offset=0,
    sep_style=SeparatorStyle.PLAIN,
    sep="\n",
)

conv_llava_v0 = Conversation(
    system="A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    roles=("Human", "Assistant"),
    messages=[],
    offset=0,
    sep_style=SeparatorStyle.SINGLE,
    sep="###",
)

conv_llava_v0_mmtag = Conversation(
    system="A chat between a curious user and an artificial intelligence assistant. "
    "The assistant is able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language."
    "The visual content will be provided with the following format: <Image>visual content</Image>.",
    roles=("Human", "Assistant"),
    messages=[],
    offset=0,
    sep_style=SeparatorStyle.SINGLE,
    sep="###",
    version="v0_mmtag",
)

conv_llava_v1 = Conversation(
    system="A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    messages=[],
    offset=0,
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)

conv_llava_v1_mmtag = Conversation(
    system="A chat between a curious user and an artificial intelligence assistant. "
    "The assistant is able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language."
    "The visual content will be provided with the following format: <Image>visual content</Image>.",
    roles=("USER", "ASSISTANT"),
    messages=[],
    offset=0,
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
    version="v1_mmtag",
)

default_conversation = conv_vicuna_v1

# Names as in LLaVA. Use `conv_templates[name].copy()`: the templates themselves are shared.
conv_templates: dict[str, Conversation] = {
    "v1": conv_vicuna_v1,
    "vicuna_v1": conv_vicuna_v1,
    "plain": conv_llava_plain,
    "v0_plain": conv_llava_plain,
    "llava_v0": conv_llava_v0,
    "v0_mmtag": conv_llava_v0_mmtag,
    "llava_v1": conv_llava_v1,
    "v1_mmtag": conv_llava_v1_mmtag,
}
