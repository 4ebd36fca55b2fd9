"""The parts of a SentencePiece `ModelProto` that ALBERT tokenization needs, read and written without protobuf.

`spiece.model` is a serialized `sentencepiece.ModelProto`. We read it with our small wire-format codec
(albert_bridge.protowire, shared with the TF bundle reader) instead of the `protobuf` package, so `describe_tokenizer`
and the fast tokenizer need no extra dependency, and we can write one back when only a `tokenizer.json` was given
(so sentencepiece can load it).
Field numbers are those of sentencepiece_model.proto.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import struct

from albert_bridge.errors import BridgeError
from albert_bridge import protowire as pw

# SentencePiece.Type values.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM = 1  # TrainerSpec.ModelType


def digit_comma_applies(piece: str) -> bool:
    """The ALBERT/BERT number rule: '▁9,' -> '▁9' + ','; pieces like '1,000' or ',' are left alone."""
    return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()


def check_charsmap(blob: bytes) -> str | None:
    """What is wrong with a precompiled_charsmap's framing (a uint32 trie size, the trie's 4-byte units, then the
    NUL-terminated replacement strings), as SentencePiece reads it; None when it is well framed."""
    if len(blob) <= 4:
        return f"{len(blob)} bytes, too short for a charsmap"
    trie_size = int.from_bytes(blob[:4], "little")
    if not 0 < trie_size < len(blob) - 4 or trie_size % 4:
        return f"trie size {trie_size} does not fit the {len(blob)}-byte charsmap"
    if not blob.endswith(b"\0"):
        return "replacement strings are not NUL-terminated"
    return None


@dataclasses.dataclass
class SpmModel:
    """Vocabulary, normalizer and the few trainer settings that change encoding."""

    pieces: list[str]
    scores: list[float]
    types: list[int]
    model_type: int = UNIGRAM
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    split_by_whitespace: bool = True
    treat_whitespace_as_suffix: bool = False
    byte_fallback: bool = False
    normalizer_name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True
    serialized: bytes = b""  # the original bytes when parsed from a file
    origin: str | None = dataclasses.field(default=None, compare=False)  # the file it was read from, for errors

    @classmethod
    def parse(cls, data: bytes) -> SpmModel:
        model = cls(pieces=[], scores=[], types=[], serialized=bytes(data))
        for number, wire, value in pw.fields(data):
            if number == 1 and wire == pw.BYTES:
                piece, score, kind = "", 0.0, NORMAL
                for n, w, v in pw.fields(value):
                    if n == 1 and w == pw.BYTES:
                        piece = v.decode("utf-8")
                    elif n == 2 and w == pw.FIXED32:
                        score = struct.unpack("<f", v)[0]
                    elif n == 3 and w == pw.VARINT:
                        kind = v
                if not piece:
                    raise ValueError(f"pieces[{len(model.pieces)}]: empty piece")
                model.pieces.append(piece)
                model.scores.append(score)
                model.types.append(kind)
            elif number == 2 and wire == pw.BYTES:
                model._parse_trainer_spec(value)
            elif number == 3 and wire == pw.BYTES:
                model._parse_normalizer_spec(value)
        if not model.pieces:
            raise ValueError("not a SentencePiece model (no pieces)")
        problem = model.precompiled_charsmap and check_charsmap(model.precompiled_charsmap)
        if problem:
            raise ValueError(f"normalizer_spec.precompiled_charsmap: {problem}")
        return model

    def _parse_trainer_spec(self, buf: bytes) -> None:
        ints = {3: "model_type", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
        bools = {22: "split_by_whitespace", 24: "treat_whitespace_as_suffix", 35: "byte_fallback"}
        for number, wire, value in pw.fields(buf):
            if wire != pw.VARINT:
                continue
            if number in ints:
                setattr(self, ints[number], pw.signed(value))
            elif number in bools:
                setattr(self, bools[number], bool(value))

    def _parse_normalizer_spec(self, buf: bytes) -> None:
        bools = {3: "add_dummy_prefix", 4: "remove_extra_whitespaces", 5: "escape_whitespaces"}
        for number, wire, value in pw.fields(buf):
            if number == 1 and wire == pw.BYTES:
                self.normalizer_name = value.decode("utf-8")
            elif number == 2 and wire == pw.BYTES:
                self.precompiled_charsmap = bytes(value)
            elif number in bools and wire == pw.VARINT:
                setattr(self, bools[number], bool(value))

    @classmethod
    def read(cls, path: str | os.PathLike) -> SpmModel:
        """The model in a `spiece.model` file; a file it cannot be is one BridgeError naming it."""
        path = pathlib.Path(path)
        try:
            model = cls.parse(path.read_bytes())
        except OSError as exc:
            raise BridgeError(f"cannot read ({exc.strerror or exc})", file=path) from None
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise BridgeError(f"not a SentencePiece model: {exc}", file=path) from None
        model.origin = str(path)
        return model

    def serialize(self) -> bytes:
        """The original bytes if we have them, else a minimal ModelProto that sentencepiece loads."""
        if self.serialized:
            return self.serialized
        out = bytearray()
        for piece, score, kind in zip(self.pieces, self.scores, self.types):
            body = pw.bytes_field(1, piece.encode("utf-8")) + pw.key(2, pw.FIXED32) + struct.pack("<f", score)
            if kind != NORMAL:
                body += pw.varint_field(3, kind)
            out += pw.bytes_field(1, body)
        trainer = b"".join(
            pw.varint_field(number, value)
            for number, value in (
                (3, self.model_type),
                (4, len(self.pieces)),
                (22, int(self.split_by_whitespace)),
                (24, int(self.treat_whitespace_as_suffix)),
                (35, int(self.byte_fallback)),
                (40, self.unk_id),
                (41, self.bos_id),
                (42, self.eos_id),
                (43, self.pad_id),
            )
        )
        out += pw.bytes_field(2, trainer)
        normalizer = pw.bytes_field(1, self.normalizer_name.encode("utf-8"))
        if self.precompiled_charsmap:
            normalizer += pw.bytes_field(2, self.precompiled_charsmap)
        for number, flag in ((3, self.add_dummy_prefix), (4, self.remove_extra_whitespaces), (5, self.escape_whitespaces)):
            normalizer += pw.varint_field(number, int(flag))
        out += pw.bytes_field(3, normalizer)
        return bytes(out)

    def piece_to_id(self) -> dict[str, int]:
        return {piece: i for i, piece in enumerate(self.pieces)}
