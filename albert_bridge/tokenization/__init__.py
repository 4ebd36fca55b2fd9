"""ALBERT tokenizers: `AlbertTokenizer` (SentencePiece) and `AlbertTokenizerFast` (tokenizers), with ids
identical to transformers 4.57's slow AlbertTokenizer, plus file helpers for the CLI.

Importing this package loads only the standard library; sentencepiece / tokenizers load when a tokenizer
is built, numpy / torch / tensorflow / jax only when tensors are requested (or a Hub id is resolved).

Modules, in dependency order:
- `spm_model`: the SentencePiece proto, read and written without protobuf.
- `chat_template`: apply_chat_template (jinja2) and the chat-template files, as transformers 4.57.
- `files`: file names and config keys; find / describe / resolve local tokenizer files.
- `batch`: BatchEncoding, padding and truncation (after text has become ids).
- `added_tokens`: AddedToken and splitting text around added/special tokens.
- `encoding`: the encode API (`__call__`, `encode_plus`, ..., `pad`), on top of `batch`.
- `saving`: save_pretrained / from_pretrained in transformers' layout.
- `base`: the tokenizer base: special and added tokens, text -> ids, decoding (with `encoding` and `saving`).
- `wordpiece_vocab`: BERT's vocab.txt (the Chinese releases' vocabulary) and the transformers files naming it.
- `slow`, `fast`: the two tokenizers; `wordpiece`: WordPieceTokenizerFast, what AlbertTokenizerFast.from_pretrained
  gives for a vocab.txt (BertTokenizer's ids).
"""

from albert_bridge.tokenization.added_tokens import AddedToken
from albert_bridge.tokenization.batch import BatchEncoding
from albert_bridge.tokenization.fast import AlbertTokenizerFast, build_backend_tokenizer
from albert_bridge.tokenization.files import describe_tokenizer, find_tokenizer_files
from albert_bridge.tokenization.slow import AlbertTokenizer
from albert_bridge.tokenization.wordpiece import WordPieceTokenizerFast

__all__ = [
    "AddedToken",
    "AlbertTokenizer",
    "AlbertTokenizerFast",
    "BatchEncoding",
    "build_backend_tokenizer",
    "describe_tokenizer",
    "find_tokenizer_files",
    "WordPieceTokenizerFast",
]
