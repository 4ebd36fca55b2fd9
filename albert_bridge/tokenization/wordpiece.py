"""WordPieceTokenizerFast: BERT's WordPiece tokenizer (the Chinese ALBERT releases' `vocab.txt`) with the
AlbertTokenizerFast API, ids identical to transformers' `BertTokenizer(vocab.txt)`.

`AlbertTokenizerFast.from_pretrained` returns one for a directory whose tokenizer is a vocab.txt. The text pipeline
is the `tokenizers` library's own BERT one (BertNormalizer, BertPreTokenizer, WordPiece: what transformers'
BertTokenizerFast is built from); special and added tokens, padding, truncation, batching and saving come from the
shared base, as for the ALBERT tokenizers.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, ClassVar

from albert_bridge.errors import BridgeError
from albert_bridge.tokenization.added_tokens import AddedToken, token_content
from albert_bridge.tokenization.base import AlbertTokenizerBase, import_tokenizers
from albert_bridge.tokenization.files import SPECIAL_TOKEN_ATTRS, WORDPIECE_VOCAB_FILE, TokenizerSource
from albert_bridge.tokenization.spm_model import CONTROL, NORMAL, SpmModel
from albert_bridge.tokenization.wordpiece_vocab import (
    BERT_SPECIAL_TOKENS,
    BERT_TOKENIZER_CLASS,
    bert_tokenizer_config,
    read_wordpiece_vocab,
)


class WordPieceTokenizerFast(AlbertTokenizerBase):
    """BERT WordPiece on `tokenizers`; arguments as transformers' BertTokenizer: `WordPieceTokenizerFast("vocab.txt",
    do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None, ...)`."""

    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": WORDPIECE_VOCAB_FILE}
    is_fast: ClassVar[bool] = True
    tokenizer_class_name = BERT_TOKENIZER_CLASS

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        do_lower_case: bool = True,
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        unk_token: Any = BERT_SPECIAL_TOKENS["unk_token"],
        sep_token: Any = BERT_SPECIAL_TOKENS["sep_token"],
        pad_token: Any = BERT_SPECIAL_TOKENS["pad_token"],
        cls_token: Any = BERT_SPECIAL_TOKENS["cls_token"],
        mask_token: Any = BERT_SPECIAL_TOKENS["mask_token"],
        bos_token: Any = None,
        eos_token: Any = None,
        clean_up_tokenization_spaces: bool = True,  # BertTokenizer's default
        **kwargs: Any,
    ):
        if vocab_file is None:
            raise BridgeError("WordPieceTokenizerFast needs a vocab_file (vocab.txt)")
        vocab = read_wordpiece_vocab(vocab_file)
        unk = token_content(unk_token)
        if unk not in vocab:
            raise BridgeError(f"unk_token {unk!r} is not in the vocabulary", file=vocab_file)
        specials = {token_content(t) for t in (unk_token, sep_token, pad_token, cls_token, mask_token) if t is not None}
        # The base keeps the vocabulary as a SentencePiece-like piece list (ids, pieces, which are control tokens).
        model = SpmModel(pieces=vocab, scores=[0.0] * len(vocab),
                         types=[CONTROL if p in specials else NORMAL for p in vocab], unk_id=vocab.index(unk),
                         origin=str(vocab_file))
        if isinstance(mask_token, str):  # the base would give a plain [MASK] ALBERT's lstrip; BERT's has none
            mask_token = AddedToken(mask_token, normalized=False, special=True)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        super().__init__(model, do_lower_case=do_lower_case, unk_token=unk_token, sep_token=sep_token,
                         pad_token=pad_token, cls_token=cls_token, mask_token=mask_token, bos_token=bos_token,
                         eos_token=eos_token, clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                         vocab_file=vocab_file, **kwargs)
        for key in ("remove_space", "keep_accents", "sp_model_kwargs"):  # SentencePiece settings BERT has not
            self.init_kwargs.pop(key, None)
        self.init_kwargs.update(tokenize_chinese_chars=self.tokenize_chinese_chars, strip_accents=strip_accents)
        self._build()

    def _build(self) -> None:
        tokenizers = import_tokenizers()
        # transformers' BertConverter: the same pipeline BertTokenizerFast runs.
        tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(
            {token: i for i, token in enumerate(self.spm_model.pieces)}, unk_token=self.spm_model.pieces[self._unk_piece_id],
            max_input_chars_per_word=100))
        tok.normalizer = tokenizers.normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=self.tokenize_chinese_chars, strip_accents=self.strip_accents,
            lowercase=self.do_lower_case)
        tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
        tok.decoder = tokenizers.decoders.WordPiece(prefix="##")
        self._tok = tok

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_tok"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    @property
    def backend_tokenizer(self):
        """The `tokenizers.Tokenizer` that splits text between special and added tokens."""
        return self._tok

    # ----------------------------------------------------------------- AlbertTokenizerBase hooks
    def _encode_segments(self, segments: list[str]) -> list[list[int]]:
        return [enc.ids for enc in self._tok.encode_batch(segments, add_special_tokens=False)]

    def _segment_pieces(self, segment: str) -> list[str]:
        return self._tok.encode(segment, add_special_tokens=False).tokens

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """BertTokenizer.convert_tokens_to_string: tokens joined by spaces, `##` continuations glued on."""
        return " ".join(tokens).replace(" ##", "").strip()

    def _chunk_encodings(self, text: str, chunks) -> list:
        working = self.splitter.working_text(text)
        return [None if token_id is not None else self._tok.encode(working[start:end], add_special_tokens=False)
                for token_id, _, start, end in chunks]

    def _chunk_word_ids(self, text: str, chunks) -> list[int]:
        """Words as BertTokenizerFast counts them: an added token is one, and each word of the pre-tokenizer."""
        out: list[int] = []
        word = -1
        for enc in self._chunk_encodings(text, chunks):
            if enc is None:
                word += 1
                out.append(word)
                continue
            first = word + 1
            out.extend(first + w for w in enc.word_ids)
            word = max([word, *out[len(out) - len(enc.word_ids):]])
        return out

    def _text_offsets(self, text: str, chunks) -> list[tuple[int, int]]:
        to_original = self.splitter.origin(text)
        out: list[tuple[int, int]] = []
        for (_, _, start, end), enc in zip(chunks, self._chunk_encodings(text, chunks)):
            if enc is None:
                out.append((to_original[start], to_original[end]))
            else:
                out.extend((to_original[start + a], to_original[start + b]) for a, b in enc.offsets)
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"do_lower_case={self.do_lower_case}, tokenize_chinese_chars={self.tokenize_chinese_chars}, "
                f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length})")

    # ----------------------------------------------------------------- saving
    def _config(self) -> dict[str, Any]:
        specials = {attr: str(v) for attr in SPECIAL_TOKEN_ATTRS if (v := self._special_tokens_map.get(attr))}
        return bert_tokenizer_config(
            do_lower_case=self.do_lower_case, model_max_length=self.model_max_length, special_tokens=specials,
            tokenize_chinese_chars=self.tokenize_chinese_chars, strip_accents=self.strip_accents,
            clean_up_tokenization_spaces=self.clean_up_tokenization_spaces, padding_side=self.padding_side,
            truncation_side=self.truncation_side,
            added_tokens_decoder={str(i): t.as_dict() for i, t in sorted(self._added_tokens_decoder.items())},
            **({"additional_special_tokens": self.additional_special_tokens} if self.additional_special_tokens else {}))

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write vocab.txt, one token a line in id order."""
        directory = pathlib.Path(save_directory)
        if not directory.is_dir():
            raise BridgeError("save_vocabulary needs an existing directory", file=directory)
        out = directory / ((filename_prefix + "-" if filename_prefix else "") + WORDPIECE_VOCAB_FILE)
        out.write_text("".join(token + "\n" for token in self.spm_model.pieces), encoding="utf-8")
        return (str(out),)

    @classmethod
    def _from_source(cls, source: TokenizerSource, **kwargs: Any):
        if source.wordpiece_vocab is None:
            raise BridgeError("not a WordPiece vocabulary (vocab.txt): a SentencePiece tokenizer is loaded with "
                              "AlbertTokenizer or AlbertTokenizerFast", file=source.vocab_file or source.tokenizer_file)
        return cls(source.wordpiece_vocab, **kwargs)
