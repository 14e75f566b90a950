"""Sentence -> tokens. `kim` follows the regex clean-up of Kim (2014): keep letters, digits and a little
punctuation, split clitics ('s, n't, 're, ...) and punctuation into tokens."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from cnnlab.errors import pick

_KIM_RULES = [
    (re.compile(r"[^A-Za-z0-9(),!?'`]"), " "),
    (re.compile(r"('s|'ve|n't|'re|'d|'ll)\b"), r" \1"),
    (re.compile(r"([,!?()])"), r" \1 "),
]


def kim_tokens(text: str) -> list[str]:
    for pattern, replacement in _KIM_RULES:
        text = pattern.sub(replacement, text)
    return text.split()


def whitespace_tokens(text: str) -> list[str]:
    return text.split()


RULES = {"kim": kim_tokens, "whitespace": whitespace_tokens}


@dataclass(frozen=True)
class Tokenizer:
    """rule: kim | whitespace (for text that is tokenised already); lowercase: fold case after splitting."""

    rule: str = "kim"
    lowercase: bool = True

    def __post_init__(self) -> None:
        pick("data.tokenizer.rule", self.rule, RULES)

    def __call__(self, text: str) -> list[str]:
        tokens = RULES[self.rule](text)
        return [token.lower() for token in tokens] if self.lowercase else tokens

    def settings(self) -> dict[str, object]:
        return asdict(self)
