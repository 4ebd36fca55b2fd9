"""AlbertTokenizerFast: the same ids as AlbertTokenizer, encoded in batches by the `tokenizers` library.

The Unigram model, normalizers and Metaspace pre-tokenizer are built from the SentencePiece proto. Three
places where a plain tokenizers pipeline cannot reproduce SentencePiece + transformers exactly are handled
in Python, each minimal and documented where it happens:

1. Special tokens are split off in Python (`_split_on_special_tokens`), because transformers finds them
   after lowercasing the text one character at a time ('<PAD>' is the pad token), which no AddedToken
   setting reproduces.
2. The digit-comma rule ('▁9,' -> '▁9' + ',') is a pure function of the piece, so every vocabulary piece it
   touches gets a precomputed replacement, applied after the batch encode (a set-disjointness check when
   nothing needs fixing).
3. transformers' preprocessing (whitespace, quotes, NFKD, lowercase) runs in Python, exactly as in the slow
   tokenizer: C-level string methods, cheap on ASCII. SentencePiece's own normalization then runs in Rust
   for ASCII (where the `Precompiled` normalizer is exact) and in SentencePiece for other text: tokenizers'
   `Precompiled` works per grapheme cluster and differs from SentencePiece on some sequences (zero-width
   joiners, combining marks after spaces, ...). The Unigram model always runs in Rust, in parallel batches.

The exported `tokenizer.json` (for transformers and other consumers) expresses transformers' preprocessing
as Rust normalizers too, with the special tokens and a TemplateProcessing post-processor; see
`build_backend_tokenizer` for what it can and cannot reproduce.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import sys
import unicodedata
from typing import Any, ClassVar

from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.tokenization.added_tokens import AddedToken
from albert_bridge.tokenization.base import SPIECE_UNDERLINE, AlbertTokenizerBase, import_tokenizers
from albert_bridge.tokenization.files import (
    DEFAULT_SPECIAL_TOKENS,
    SPECIAL_TOKEN_ATTRS,
    TOKENIZER_FILE,
    VOCAB_FILE,
    TokenizerSource,
    spm_model_from_tokenizer_data,
    spm_model_from_tokenizer_json,
)
from albert_bridge.tokenization.slow import load_sentencepiece
from albert_bridge.tokenization.spm_model import (
    CONTROL,
    NORMAL,
    UNIGRAM,
    UNKNOWN,
    USER_DEFINED,
    SpmModel,
    digit_comma_applies,
)
from albert_bridge.tokenization.wordpiece import WordPieceTokenizerFast

# transformers' AlbertConverter lowers the score of digit-comma pieces by this much in tokenizer.json
# (its approximation of the rule); we write the same and undo it when reading such a file.
DIGIT_COMMA_PENALTY = 100.0
UNK_PENALTY = 10.0  # SentencePiece and tokenizers both score <unk> as (lowest piece score - 10)


def _char_class(predicate) -> str:
    """A regex character class of every code point matching `predicate`, as \\x{..} ranges."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if predicate(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = [f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges]
    return "[" + "".join(parts) + "]"


@functools.cache
def python_whitespace_class() -> str:
    # str.split()/strip() whitespace (includes \x1c-\x1f, which Rust's is_whitespace does not).
    return _char_class(str.isspace)


@functools.cache
def python_combining_class() -> str:
    # unicodedata.combining(c) != 0; tokenizers' StripAccents uses a different set (all marks).
    return _char_class(unicodedata.combining)


def _normalizer_steps(model: SpmModel, *, do_lower_case: bool, remove_space: bool, keep_accents: bool,
                      preprocess: bool, keep_edges: bool = False) -> list:
    """transformers' preprocess_text (when `preprocess`), then SentencePiece's own normalization.

    With `keep_edges` (for offsets), whitespace is collapsed the way transformers' converted normalizer does it
    (one space per whitespace character, then runs of spaces to one) and a space at either end stays, so
    characters align with the original text as in transformers."""
    tokenizers = import_tokenizers()
    normalizers, Regex = tokenizers.normalizers, tokenizers.Regex
    edges = [] if keep_edges else [normalizers.Replace(Regex(r"\A | \z"), "")]
    steps = []
    if preprocess:
        if remove_space and keep_edges:
            steps += [normalizers.Replace(Regex(python_whitespace_class()), " "),
                      normalizers.Replace(Regex(" {2,}"), " ")]
        elif remove_space:  # " ".join(text.strip().split())
            steps += [normalizers.Replace(Regex(python_whitespace_class() + "+"), " "), *edges]
        steps += [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        if not keep_accents:
            steps += [normalizers.NFKD(), normalizers.Replace(Regex(python_combining_class()), "")]
        if do_lower_case:
            steps.append(normalizers.Lowercase())
    if model.precompiled_charsmap:
        try:
            steps.append(normalizers.Precompiled(model.precompiled_charsmap))
        except BaseException as exc:  # a bare Exception for a charsmap it cannot parse, a Rust panic for some others
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            raise BridgeError(f"normalizer_spec.precompiled_charsmap: tokenizers refuses it ({exc})",
                              file=model.origin) from None
    if model.remove_extra_whitespaces:
        # SentencePiece drops leading, trailing and repeated spaces after its normalization; transformers'
        # converter only collapses runs, which leaves a trailing '▁' piece (e.g. for "a\u200b").
        steps += [normalizers.Replace(Regex(" {2,}"), " "), *edges]
    return steps


def _metaspace(model: SpmModel, prepend: bool):
    tokenizers = import_tokenizers()
    scheme = "always" if prepend and model.add_dummy_prefix else "never"
    return tokenizers.pre_tokenizers.Metaspace(SPIECE_UNDERLINE, prepend_scheme=scheme,
                                               split=model.split_by_whitespace)


def build_backend_tokenizer(model: SpmModel, *, do_lower_case: bool = True, remove_space: bool = True,
                            keep_accents: bool = False, added_tokens: dict[int, AddedToken] | None = None,
                            cls_token: str = DEFAULT_SPECIAL_TOKENS["cls_token"],
                            sep_token: str = DEFAULT_SPECIAL_TOKENS["sep_token"]):
    """The `tokenizer.json` pipeline for other consumers (transformers' AlbertTokenizerFast loads it).

    Vocabulary scores follow transformers' AlbertConverter (digit-comma pieces lowered by 100), so a
    transformers fast tokenizer loading our files behaves like one converted by transformers itself,
    except for the better whitespace handling; exact ids need our AlbertTokenizerFast. `added_tokens` (id ->
    token: the special tokens and those from add_tokens) become the file's added tokens, with the same ids.
    """
    tokenizers = import_tokenizers()
    vocab = [
        (piece, score - DIGIT_COMMA_PENALTY if digit_comma_applies(piece) else score)
        for piece, score in zip(model.pieces, model.scores)
    ]
    tok = tokenizers.Tokenizer(tokenizers.models.Unigram(vocab, model.unk_id, False))
    tok.normalizer = tokenizers.normalizers.Sequence(
        _normalizer_steps(model, do_lower_case=do_lower_case, remove_space=remove_space, keep_accents=keep_accents,
                          preprocess=True)
    )
    tok.pre_tokenizer = _metaspace(model, prepend=True)
    tok.decoder = tokenizers.decoders.Metaspace(SPIECE_UNDERLINE, prepend_scheme="always" if model.add_dummy_prefix
                                                else "never", split=model.split_by_whitespace)
    for index, token in sorted((added_tokens or {}).items()):
        rust = tokenizers.AddedToken(token.content, single_word=token.single_word, lstrip=token.lstrip,
                                     rstrip=token.rstrip, normalized=token.normalized, special=token.special)
        (tok.add_special_tokens if token.special else tok.add_tokens)([rust])
        if tok.token_to_id(token.content) != index:  # ids past the vocabulary are given in order
            raise BridgeError(f"added token {token.content!r} would not keep id {index} in tokenizer.json")
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single=f"{cls_token}:0 $A:0 {sep_token}:0",
        pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
        special_tokens=[(cls_token, tok.token_to_id(cls_token)), (sep_token, tok.token_to_id(sep_token))],
    )
    return tok


class AlbertTokenizerFast(AlbertTokenizerBase):
    """ALBERT tokenizer on `tokenizers`; ids identical to AlbertTokenizer (and so to transformers' slow one).

    Unlike transformers' AlbertTokenizerFast it applies the digit-comma rule exactly and drops the trailing
    whitespace pieces SentencePiece drops. Build it from `spiece.model` (preferred) or a `tokenizer.json`.
    """

    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": VOCAB_FILE, "tokenizer_file": TOKENIZER_FILE}
    is_fast: ClassVar[bool] = True

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        tokenizer_file: str | os.PathLike | None = None,
        do_lower_case: bool = True,
        remove_space: bool = True,
        keep_accents: bool = False,
        bos_token: Any = DEFAULT_SPECIAL_TOKENS["bos_token"],
        eos_token: Any = DEFAULT_SPECIAL_TOKENS["eos_token"],
        unk_token: Any = DEFAULT_SPECIAL_TOKENS["unk_token"],
        sep_token: Any = DEFAULT_SPECIAL_TOKENS["sep_token"],
        pad_token: Any = DEFAULT_SPECIAL_TOKENS["pad_token"],
        cls_token: Any = DEFAULT_SPECIAL_TOKENS["cls_token"],
        mask_token: Any = DEFAULT_SPECIAL_TOKENS["mask_token"],
        **kwargs: Any,
    ):
        # spm_model=: an SpmModel instead of the files (from_pretrained, training); a keyword outside the signature,
        # which transformers' tests expect to be all init_kwargs.
        spm_model: SpmModel | None = kwargs.pop("spm_model", None)
        if spm_model is None:
            if vocab_file is not None:  # preferred: the exact scores and normalizer of the original model
                spm_model = SpmModel.read(vocab_file)
            elif tokenizer_file is not None:
                spm_model = spm_model_from_tokenizer_json(tokenizer_file)
            else:
                raise BridgeError("AlbertTokenizerFast needs a vocab_file (spiece.model) or a tokenizer_file")
        if spm_model.model_type != UNIGRAM or spm_model.byte_fallback:
            raise NotYetSupported("only SentencePiece unigram models without byte fallback are supported (ALBERT's)")
        processor = load_sentencepiece(spm_model)  # SentencePiece checks the model first, stricter than tokenizers
        super().__init__(
            spm_model,
            do_lower_case=do_lower_case,
            remove_space=remove_space,
            keep_accents=keep_accents,
            bos_token=bos_token,
            eos_token=eos_token,
            unk_token=unk_token,
            sep_token=sep_token,
            pad_token=pad_token,
            cls_token=cls_token,
            mask_token=mask_token,
            vocab_file=vocab_file,
            **kwargs,
        )
        self._build()
        self._sp = processor

    # ----------------------------------------------------------------- pipelines
    def _build(self) -> None:
        tokenizers = import_tokenizers()
        model = self.spm_model
        normal = [s for s, t in zip(model.scores, model.types) if t == NORMAL]
        max_score = max(normal, default=0.0)
        min_score = min(normal, default=0.0)
        vocab = []
        for piece, score, kind in zip(model.pieces, model.scores, model.types):
            if kind == NORMAL:
                vocab.append((piece, score))
            elif kind == USER_DEFINED:
                # SentencePiece's bonus so user-defined symbols always win (length in bytes, as in its
                # optimized encoder); our Viterbi then picks exactly what SentencePiece picks.
                vocab.append((piece, len(piece.encode("utf-8")) * max_score - 0.1))
            else:
                # Control, unknown and unused pieces are never matched in text by SentencePiece, but tokenizers
                # matches every vocabulary entry ('<pad>' after lowercasing '<PAD>'). The model never sees a
                # plain space (Metaspace and SentencePiece turn them into '▁'), so this name cannot match.
                # The score keeps tokenizers' minimum (and so its <unk> score) equal to SentencePiece's.
                vocab.append((f"{piece} ", min_score))
        unigram = tokenizers.models.Unigram(vocab, model.unk_id, False)

        def make(normalize: bool, prepend: bool):
            tok = tokenizers.Tokenizer(unigram)
            if normalize:
                tok.normalizer = tokenizers.normalizers.Sequence(
                    _normalizer_steps(model, do_lower_case=self.do_lower_case, remove_space=self.remove_space,
                                      keep_accents=self.keep_accents, preprocess=False)
                )
            tok.pre_tokenizer = _metaspace(model, prepend)
            return tok

        # The three routes of `_route`, all sharing one Unigram model:
        self._tok_plain = make(normalize=False, prepend=True)  # printable ASCII, spaces already collapsed
        self._tok_spm = make(normalize=True, prepend=True)  # other ASCII: SentencePiece's normalizer (exact on ASCII)
        self._tok_normalized = make(normalize=False, prepend=False)  # already normalized by SentencePiece
        self._plain_ascii_ok = self._charsmap_keeps_printable_ascii()
        self._sp = None  # SentencePieceProcessor, loaded on first non-ASCII text
        self._rust_encode_batch = getattr(tokenizers.Tokenizer, "encode_batch_fast", tokenizers.Tokenizer.encode_batch)
        self._digit_comma = self._digit_comma_table()
        self._digit_comma_ids = frozenset(self._digit_comma)
        # Word boundaries as transformers' fast tokenizer draws them (see _chunk_word_ids).
        self._word_start = [p.startswith(SPIECE_UNDERLINE) for p in model.pieces]
        self._word_alone = [t == USER_DEFINED for t in model.types]
        self._aligner_tok = None  # built on the first return_offsets_mapping

    def _charsmap_keeps_printable_ascii(self) -> bool:
        """True when SentencePiece's normalizer leaves printable ASCII alone (nmt_nfkc does; a custom rule set
        might not), which lets `_route` skip it. Checked on every printable character and character pair."""
        if not self.spm_model.precompiled_charsmap:
            return True
        printable = [chr(c) for c in range(0x21, 0x7F)]
        sample = " ".join(a + b for a in printable for b in printable)
        return self._tok_spm.normalizer.normalize_str(sample) == sample

    @property
    def sp_model(self):
        if self._sp is None:
            self._sp = load_sentencepiece(self.spm_model)
        return self._sp

    def __getstate__(self):
        # Rust tokenizers, the SentencePiece processor and the tables are rebuilt by _build on unpickling.
        built = {"_tok_plain", "_tok_spm", "_tok_normalized", "_sp", "_rust_encode_batch", "_digit_comma",
                 "_digit_comma_ids", "_aligner_tok", "_word_start", "_word_alone"}
        return {k: v for k, v in self.__dict__.items() if k not in built}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    def _route(self, segment: str) -> tuple[Any, str]:
        """The pipeline for one text segment and the text to give it.

        transformers' preprocessing runs in Python exactly as in the slow tokenizer (C-level string methods,
        cheap on ASCII). What SentencePiece's normalizer would do next is then done by the cheapest exact
        means: nothing for printable ASCII (nmt_nfkc is the identity there and spaces are already single),
        the Precompiled normalizer for other ASCII, SentencePiece itself for anything else (module docstring).
        """
        text = self.preprocess_text(segment)
        if text.isascii():
            # Only ASCII input is sure to have single inner spaces after preprocessing: NFKD can turn '¨' into
            # ' ' + a combining mark, leaving spaces that SentencePiece would still strip.
            if self._plain_ascii_ok and self.remove_space and segment.isascii() and text.isprintable():
                return self._tok_plain, text
            return self._tok_spm, text
        return self._tok_normalized, self.sp_model.normalize(text)

    def _spm_encode_ids(self, text: str) -> list[int]:
        """SentencePiece's EncodeAsIds(text) (its normalization, no transformers preprocessing)."""
        if text.isascii():
            return self._tok_spm.encode(text, add_special_tokens=False).ids
        return self._tok_normalized.encode(self.sp_model.normalize(text), add_special_tokens=False).ids

    def _digit_comma_table(self) -> dict[int, tuple[tuple[int, ...], tuple[str, ...]]]:
        """piece id -> (ids, pieces) that AlbertTokenizer._tokenize puts in its place."""
        pieces = self.spm_model.pieces
        table = {}
        for i, piece in enumerate(pieces):
            if self.spm_model.types[i] != NORMAL or not digit_comma_applies(piece):
                continue
            cur = [pieces[j] for j in self._spm_encode_ids(piece[:-1].replace(SPIECE_UNDERLINE, ""))]
            if piece[0] != SPIECE_UNDERLINE and cur and cur[0][0] == SPIECE_UNDERLINE:
                cur = cur[1:] if len(cur[0]) == 1 else [cur[0][1:], *cur[1:]]
            cur.append(piece[-1])
            table[i] = (tuple(self._piece_to_id.get(p, self._unk_piece_id) for p in cur), tuple(cur))
        return table

    def _fix_digit_comma(self, ids: list[int]) -> list[int]:
        if self._digit_comma_ids.isdisjoint(ids):
            return ids
        table = self._digit_comma
        out: list[int] = []
        for i in ids:
            if i in table:
                out.extend(table[i][0])
            else:
                out.append(i)
        return out

    # ----------------------------------------------------------------- AlbertTokenizerBase hooks
    def _encode_segments(self, segments: list[str]) -> list[list[int]]:
        groups: dict[int, tuple[Any, list[int], list[str]]] = {}
        for n, segment in enumerate(segments):
            tok, text = self._route(segment)
            group = groups.setdefault(id(tok), (tok, [], []))
            group[1].append(n)
            group[2].append(text)
        out: list[list[int]] = [[] for _ in segments]
        for tok, index, texts in groups.values():
            for n, enc in zip(index, self._rust_encode_batch(tok, texts, add_special_tokens=False)):
                out[n] = self._fix_digit_comma(enc.ids)
        if self._added_past_vocab:
            # transformers maps pieces to ids through the added tokens first, so an unknown surface that is an
            # added token's content ('@@' inside a single_word merge) gets that token's id.
            unk = self._unk_piece_id
            for n, ids in enumerate(out):
                if unk in ids:
                    out[n] = [self._token_to_id(p) for p in self._segment_pieces(segments[n])]
        return out

    def _segment_pieces(self, segment: str) -> list[str]:
        """Pieces with SentencePiece's surface form for unknown text, so tokenize() matches the slow one."""
        tok, text = self._route(segment)
        if tok is not self._tok_normalized:  # normalize (if needed) in Rust, then escape spaces like SentencePiece
            if tok.normalizer is not None:
                text = tok.normalizer.normalize_str(text)
            if text and self.spm_model.add_dummy_prefix:
                text = " " + text
            text = text.replace(" ", SPIECE_UNDERLINE)
        enc = self._tok_normalized.encode(text, add_special_tokens=False)
        pieces = self.spm_model.pieces
        out: list[str] = []
        for i, (start, end) in zip(enc.ids, enc.offsets):
            if i in self._digit_comma:
                out.extend(self._digit_comma[i][1])
            elif i == self._unk_piece_id:
                out.append(text[start:end])
            else:
                out.append(pieces[i])
        return out

    def _decode_pieces(self, pieces: list[str]) -> str:
        """SentencePiece's DecodePieces in Python: '▁' -> ' ', the dummy prefix space dropped, control pieces
        empty, '<unk>' as ' ⁇ ', pieces outside the vocabulary verbatim."""
        model = self.spm_model
        out = []
        at_start = True
        for piece in pieces:
            i = self._piece_to_id.get(piece)
            kind = UNKNOWN if i is None else model.types[i]
            if kind == CONTROL:
                text = ""
            elif kind == UNKNOWN:
                text = " \u2047 " if i == self._unk_piece_id else piece
            else:
                if at_start and (model.add_dummy_prefix or model.remove_extra_whitespaces):
                    piece = piece.removeprefix(SPIECE_UNDERLINE)
                text = piece.replace(SPIECE_UNDERLINE, " ")
            if text:
                at_start = False
            out.append(text)
        return "".join(out)

    def _missing_token_id(self) -> int | None:
        # transformers' fast tokenizers answer the current unk_token's id (which a setter may have changed).
        unk = self.unk_token
        return None if unk is None else self._token_to_id(unk)

    # ----------------------------------------------------------------- word ids and offsets
    def _chunk_word_ids(self, text: str, chunks) -> list[int]:
        """Word index of every token of one text (from 0), as transformers' fast tokenizer draws words: an added
        token found in the text is a word, a '▁' piece starts one, and so does a user-defined piece ('(' ...)
        written as such in the text (its converter makes those added tokens), which also ends its word."""
        out: list[int] = []
        word, after_alone = -1, False
        starts, alone, size = self._word_start, self._word_alone, len(self._word_alone)
        working = None
        for token_id, ids, start, end in chunks:
            if token_id is not None:
                word += 1
                out.append(word)
                after_alone = True
                continue
            literal = [False] * len(ids)
            if any(i < size and alone[i] for i in ids):
                working = self.splitter.working_text(text) if working is None else working
                pieces = self.spm_model.pieces
                segment = working[start:end]
                literal = [i < size and alone[i] and segment[a:b] == pieces[i]
                           for i, (a, b) in zip(ids, self._segment_offsets(segment, ids))]
            for k, i in enumerate(ids):
                if k == 0 or after_alone or literal[k] or (i < size and starts[i]):
                    word += 1
                out.append(word)
                after_alone = literal[k]
        return out

    def _aligner(self):
        """A tokenizer whose every normalized character is a token: its offsets align normalized characters
        with the original text, through the same normalizer tokenizer.json carries."""
        if self._aligner_tok is None:
            tokenizers = import_tokenizers()
            tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
            tok.normalizer = tokenizers.normalizers.Sequence(_normalizer_steps(
                self.spm_model, do_lower_case=self.do_lower_case, remove_space=self.remove_space,
                keep_accents=self.keep_accents, preprocess=True, keep_edges=True))
            tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex(r"[\s\S]"), behavior="isolated")
            self._aligner_tok = tok
        return self._aligner_tok

    def _text_offsets(self, text: str, chunks) -> list[tuple[int, int]]:
        """Character offsets in `text` of every token (chunks as `_encode_texts(detail=True)` gives them)."""
        to_original = self.splitter.origin(text)
        out: list[tuple[int, int]] = []
        for token_id, ids, start, end in chunks:
            start, end = to_original[start], to_original[end]
            if token_id is not None:
                out.append((start, end))
            else:
                out.extend((start + a, start + b) for a, b in self._segment_offsets(text[start:end], ids))
        return out

    def _segment_offsets(self, segment: str, ids: list[int]) -> list[tuple[int, int]]:
        """Offsets of `ids` (the encoding of `segment`) in `segment`.

        The pieces are laid over SentencePiece's view of the text ('▁' + normalized text, spaces as '▁'),
        whose characters the aligner maps back to the segment. When the Rust normalizer and SentencePiece's
        disagree on this text (rare non-ASCII sequences, see the module docstring), pieces are laid by length."""
        aligner = self._aligner()
        normalized = aligner.normalizer.normalize_str(segment)
        spans = aligner.encode(segment, add_special_tokens=False).offsets
        # A leading space is the '▁' transformers' pre-tokenizer then does not prepend; without one, the
        # prepended '▁' takes the first character's place.
        lead = 1 if normalized.startswith(" ") else 0
        normalized = normalized.strip(" ")
        if not normalized:
            return [(0, 0)] * len(ids)
        prefix_span, spans = spans[0], spans[lead:]
        prefix = 1 if self.spm_model.add_dummy_prefix else 0
        view = SPIECE_UNDERLINE * prefix + normalized.replace(" ", SPIECE_UNDERLINE)
        enc = self._tok_normalized.encode(view, add_special_tokens=False)
        got, ranges = [], []
        for i, (a, b) in zip(enc.ids, enc.offsets):
            if i in self._digit_comma:  # the rule's pieces share their piece's characters
                for piece_id, piece in zip(*self._digit_comma[i]):
                    got.append(piece_id)
                    ranges.append((a, a + len(piece)))
                    a += len(piece)
            else:
                got.append(i)
                ranges.append((a, b))
        if got != ids:
            pieces, ranges, pos = self.spm_model.pieces, [], 0
            for i in ids:
                width = 1 if i == self._unk_piece_id or i >= len(pieces) else len(pieces[i])
                ranges.append((min(pos, len(view) - 1), min(pos + width, len(view))))
                pos += width
        last = len(spans) - 1
        return [(prefix_span[0] if a < prefix else spans[min(a - prefix, last)][0],
                 prefix_span[1] if b <= prefix else spans[min(b - prefix, last + 1) - 1][1])
                for a, b in ranges]

    # ----------------------------------------------------------------- training
    def train_new_from_iterator(self, text_iterator, vocab_size: int, length: int | None = None,
                                new_special_tokens: list | None = None, special_tokens_map: dict | None = None,
                                **kwargs: Any) -> AlbertTokenizerFast:
        """A new tokenizer with a Unigram vocabulary trained on `text_iterator` (an iterator of str or of lists of
        str) through the same pipeline, like PreTrainedTokenizerFast.train_new_from_iterator: the special and
        added tokens come first, `<unk>` stays the unknown token, and settings carry over."""
        tokenizers = import_tokenizers()
        rename = special_tokens_map or {}
        data = json.loads(self.backend_tokenizer.to_str())
        added = data.pop("added_tokens")
        data.pop("post_processor")
        unk = data["model"]["vocab"][data["model"]["unk_id"]][0]
        unk = rename.get(unk, unk)
        data["model"].update(unk_id=0, vocab=[[unk, 0.0]])
        trainee = tokenizers.Tokenizer.from_str(json.dumps(data))
        special = []
        for token in added:  # transformers passes every added token of a Unigram model as a trainer special token
            token.pop("id", None)
            token.pop("special", None)
            token["content"] = rename.get(token["content"], token["content"])
            special.append(tokenizers.AddedToken(**token))
        special.extend(new_special_tokens or [])
        trainer = tokenizers.trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=special, unk_token=unk,
                                                     **kwargs)
        trainee.train_from_iterator(text_iterator, length=length, trainer=trainer)
        trained = json.loads(trainee.to_str())
        settings = {key: value for key, value in self.init_kwargs.items() if key not in SPECIAL_TOKEN_ATTRS}
        for attr in SPECIAL_TOKEN_ATTRS:  # kept in the form they had (str or AddedToken with its flags)
            value = self._special_tokens_map.get(attr)
            if value is not None:
                content = rename.get(str(value), str(value))
                settings[attr] = content if isinstance(value, str) else dataclasses.replace(AddedToken.of(value),
                                                                                            content=content)
        extra = (self.additional_special_tokens or []) + [str(t) for t in new_special_tokens or []]
        if extra:
            settings["additional_special_tokens"] = extra
        settings.setdefault("model_max_length", self.model_max_length)
        return type(self)(spm_model=spm_model_from_tokenizer_data(trained), **settings)

    @classmethod
    def _from_source(cls, source: TokenizerSource, **kwargs: Any):
        """A vocab.txt (the Chinese releases' BERT WordPiece vocabulary) gives a WordPieceTokenizerFast: the same
        API, and BertTokenizer's ids."""
        if source.wordpiece_vocab is not None:
            return WordPieceTokenizerFast._from_source(source, **kwargs)
        return super()._from_source(source, **kwargs)

    # ----------------------------------------------------------------- tokenizer.json
    @property
    def backend_tokenizer(self):
        """The exported `tokenizers.Tokenizer` (what save_pretrained writes to tokenizer.json)."""
        return build_backend_tokenizer(
            self.spm_model,
            do_lower_case=self.do_lower_case,
            remove_space=self.remove_space,
            keep_accents=self.keep_accents,
            added_tokens=self._added_tokens_decoder,
            cls_token=self.cls_token,
            sep_token=self.sep_token,
        )

    def _save_extra(self, directory: pathlib.Path, prefix: str) -> list[str]:
        path = directory / (prefix + TOKENIZER_FILE)
        self.backend_tokenizer.save(str(path))
        return [str(path)]
