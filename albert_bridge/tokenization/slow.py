"""AlbertTokenizer: SentencePiece-backed, the reference behaviour (transformers 4.57's AlbertTokenizer)."""

from __future__ import annotations

import os
from typing import Any

from albert_bridge.errors import BridgeError
from albert_bridge.tokenization.base import SPIECE_UNDERLINE, AlbertTokenizerBase
from albert_bridge.tokenization.files import DEFAULT_SPECIAL_TOKENS
from albert_bridge.tokenization.spm_model import SpmModel, digit_comma_applies


def load_sentencepiece(model: SpmModel, sp_model_kwargs: dict[str, Any] | None = None):
    """A SentencePieceProcessor for the model bytes (sentencepiece is imported only here). `sp_model_kwargs`
    are its constructor's options, e.g. enable_sampling / nbest_size / alpha for subword regularisation."""
    try:
        import sentencepiece as spm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BridgeError("the ALBERT tokenizer needs `sentencepiece` (pip install 'albert-bridge[text]')") from exc
    try:
        processor = spm.SentencePieceProcessor(**(sp_model_kwargs or {}))
    except TypeError as exc:
        raise TypeError(f"sp_model_kwargs: {exc}") from exc
    try:
        processor.LoadFromSerializedProto(model.serialize())
    except RuntimeError as exc:  # its own checks of what our reader lets through ("INTERNAL: piece must not be ...")
        message = str(exc).removeprefix("INTERNAL: ").strip()
        raise BridgeError(f"SentencePiece refuses the model: {message}", file=model.origin) from None
    return processor


class AlbertTokenizer(AlbertTokenizerBase):
    """ALBERT tokenizer on SentencePiece; ids, tokens and decoding match transformers' AlbertTokenizer.

    Args mirror transformers: `AlbertTokenizer("spiece.model", do_lower_case=True, remove_space=True,
    keep_accents=False, ..., sp_model_kwargs={"enable_sampling": True, "nbest_size": -1, "alpha": 0.1})`;
    `AlbertTokenizer.from_pretrained(directory_or_model_file)` reads local files only.
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike | None,  # required, as in transformers (None with spm_model=)
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
        sp_model_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        # spm_model=: an SpmModel instead of the files (from_pretrained, training); a keyword outside the signature,
        # which transformers' tests expect to be all init_kwargs.
        spm_model: SpmModel | None = kwargs.pop("spm_model", None)
        if spm_model is None:
            if vocab_file is None:
                raise BridgeError("AlbertTokenizer needs a vocab_file (spiece.model)")
            spm_model = SpmModel.read(vocab_file)
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
            sp_model_kwargs=sp_model_kwargs,
            vocab_file=vocab_file,
            **kwargs,
        )
        self.sp_model = load_sentencepiece(spm_model, self.sp_model_kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["sp_model"] = None  # the processor is not picklable; rebuilt from the model bytes
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.sp_model = load_sentencepiece(self.spm_model, self.sp_model_kwargs)

    def _tokenize(self, text: str) -> list[str]:
        """AlbertTokenizer._tokenize: preprocess, SentencePiece, then the digit-comma rule."""
        pieces = self.sp_model.encode(self.preprocess_text(text), out_type=str)
        new_pieces: list[str] = []
        for piece in pieces:
            if digit_comma_applies(piece):
                # '9,9' -> ['▁9', ',', '9'] instead of ['▁9,', '9'] (BERT's number handling).
                cur = self.sp_model.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
                if piece[0] != SPIECE_UNDERLINE and cur[0][0] == SPIECE_UNDERLINE:
                    if len(cur[0]) == 1:
                        cur = cur[1:]
                    else:
                        cur[0] = cur[0][1:]
                cur.append(piece[-1])
                new_pieces.extend(cur)
            else:
                new_pieces.append(piece)
        return new_pieces

    def _segment_pieces(self, segment: str) -> list[str]:
        return self._tokenize(segment)

    def _encode_segments(self, segments: list[str]) -> list[list[int]]:
        # Pieces -> ids as transformers' convert_tokens_to_ids: an unknown surface ('☃') maps to <unk>, unless
        # it is an added token's content.
        to_id = self._token_to_id if self._added_past_vocab else self.sp_model.piece_to_id
        return [[to_id(p) for p in self._tokenize(seg)] for seg in segments]

    def _decode_pieces(self, pieces: list[str]) -> str:
        return self.sp_model.decode(pieces)
