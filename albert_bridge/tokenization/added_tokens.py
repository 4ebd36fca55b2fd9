"""Added tokens (special tokens, `add_tokens`, `add_special_tokens`) and how text is split around them, as
transformers' slow `PreTrainedTokenizer.tokenize` does it: lowercase everything but the protected tokens one
character at a time, split on every added token (leftmost, then longest), then apply each token's
lstrip / rstrip / single_word to its neighbours.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from albert_bridge.errors import BridgeError


@dataclasses.dataclass
class AddedToken:
    """Same fields and defaults as `tokenizers.AddedToken`; those (and transformers' AddedToken) are accepted too."""

    content: str
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = True
    special: bool = False

    def __str__(self) -> str:
        return self.content

    def __hash__(self) -> int:
        # Hashable like tokenizers' AddedToken (which hashes its content): sets and dict keys of tokens work.
        return hash(self.content)

    def __repr__(self) -> str:
        return (f'AddedToken("{self.content}", rstrip={self.rstrip}, lstrip={self.lstrip}, '
                f"single_word={self.single_word}, normalized={self.normalized}, special={self.special})")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form transformers writes (tokenizer_config.json's added_tokens_decoder)."""
        return {"content": self.content, "lstrip": self.lstrip, "normalized": self.normalized,
                "rstrip": self.rstrip, "single_word": self.single_word, "special": self.special}

    @classmethod
    def of(cls, value: Any) -> AddedToken:
        """From our AddedToken, tokenizers'/transformers' AddedToken, or the JSON dict form."""
        if isinstance(value, cls):
            return dataclasses.replace(value)
        if isinstance(value, dict):
            fields = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in value.items() if k in fields})
        if hasattr(value, "content"):
            return cls(str(value.content), bool(getattr(value, "single_word", False)),
                       bool(getattr(value, "lstrip", False)), bool(getattr(value, "rstrip", False)),
                       bool(getattr(value, "normalized", True)), bool(getattr(value, "special", False)))
        raise TypeError(f"Token {value} is not a string but a {type(value)}.")


def token_content(value: Any) -> str:
    """The string of a special-token value (str, AddedToken or its dict form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value["content"]
    if hasattr(value, "content"):
        return str(value.content)
    raise BridgeError(f"special token must be a string or an AddedToken, got {type(value).__name__}")


def lower_per_char(text: str) -> str:
    """transformers lowercases with re.sub(r"(special)|(.+?)", ...), i.e. one character at a time, so the
    context-dependent final sigma of str.lower() never happens ('ΟΔΟΣ' -> 'οδοσ', not 'οδος'). 'Σ' is the only
    context-sensitive mapping in CPython's str.lower, so whole-string lowering is exact without it."""
    if "\u03a3" not in text:
        return text.lower()
    return "".join([c.lower() for c in text])


def _alternation(tokens) -> re.Pattern | None:
    # Longest first, so the alternation behaves like transformers' trie (leftmost, then longest match).
    tokens = sorted(set(tokens), key=len, reverse=True)
    return re.compile("(" + "|".join(map(re.escape, tokens)) + ")") if tokens else None


class AddedTokenSplitter:
    """Splits text into pieces of plain text and added-token ids; built once per set of added tokens."""

    def __init__(self, encoder: dict[str, int], decoder: dict[int, AddedToken], protected: list[str],
                 do_lower_case: bool):
        self.encoder = encoder
        self.flags = {tok.content: tok for tok in decoder.values()}
        self.lower = do_lower_case
        self.split_re = _alternation(encoder)
        self.protect_re = _alternation(protected) if do_lower_case else None
        self.starts = frozenset(t[0] for t in encoder if t)
        self.protect_starts = frozenset(t[0] for t in protected if t)

    def working_text(self, text: str) -> str:
        """The text with everything but protected tokens lowercased (when do_lower_case)."""
        if not self.lower:
            return text
        if self.protect_re is None or not any(c in text for c in self.protect_starts):
            return lower_per_char(text)
        parts = self.protect_re.split(text)
        return "".join(p if i % 2 else lower_per_char(p) for i, p in enumerate(parts))

    def origin(self, text: str) -> list[int]:
        """For each position in `working_text(text)` (and its end), the position in `text`; lowercasing can
        lengthen a character ('İ' -> 'i̇')."""
        working = self.working_text(text)
        if len(working) == len(text):
            return list(range(len(text) + 1))
        parts = self.protect_re.split(text) if self.protect_re is not None else [text]
        out, pos = [], 0
        for i, part in enumerate(parts):
            for c in part:
                out.extend([pos] * (1 if i % 2 else len(c.lower())))
                pos += 1
        out.append(pos)
        return out

    def split(self, text: str) -> list[tuple[str | int, int, int]]:
        """[(text segment or added-token id, start, end)], positions in `working_text(text)`."""
        if not isinstance(text, str):
            raise BridgeError(f"text input must be a str, got {type(text).__name__}")
        working = self.working_text(text)
        if self.split_re is None or not any(c in working for c in self.starts):
            return [(working, 0, len(working))] if working else []  # common case: no added token can occur
        # transformers' Trie.split drops empty pieces; neighbours below are the non-empty ones, as there.
        items: list[list] = []
        pos = 0
        for i, piece in enumerate(self.split_re.split(working)):
            if piece:
                items.append([piece, pos, pos + len(piece), bool(i % 2)])
            pos += len(piece)
        for i, item in enumerate(items):
            if not item[3] or item[0] not in self.encoder:
                continue
            token = self.flags[item[0]]
            left = items[i - 1][0] if i > 0 else None
            right = items[i + 1][0] if i + 1 < len(items) else None
            if token.rstrip and right:
                stripped = right.lstrip()
                item[2] += len(right) - len(stripped)
                items[i + 1][0], items[i + 1][1] = stripped, item[2]
            if token.lstrip and left:
                stripped = left.rstrip()
                item[1] -= len(left) - len(stripped)
                items[i - 1][0], items[i - 1][2] = stripped, item[1]
            if token.single_word and left and left[-1] != " ":
                items[i - 1][0] += item[0]
                items[i - 1][2] = item[2]
                items[i - 1][3] = False
                item[0] = ""
            elif token.single_word and right and right[0] != " ":
                items[i + 1][0] = item[0] + items[i + 1][0]
                items[i + 1][1] = item[1]
                items[i + 1][3] = False
                item[0] = ""
        return [
            (self.encoder[p] if is_token and p in self.encoder else p, start, end)
            for p, start, end, is_token in items if p
        ]
