"""ALBERT tokenizers: `AlbertTokenizer` (SentencePiece) and `AlbertTokenizerFast` (tokenizers), with ids
identical to transformers 4.57's slow AlbertTokenizer, plus file helpers for the CLI.

Importing this package loads only the standard library; sentencepiece / tokenizers load when a tokenizer
is built, numpy / torch / tensorflow / jax only when tensors are requested.

Modules: `common` (shared encode/decode/save logic), `slow`, `fast`, `spm_model` (SentencePiece proto
reader/writer), `files` (find/describe/resolve local tokenizer files).
"""

from albert_bridge.tokenization.common import BatchEncoding
from albert_bridge.tokenization.fast import AlbertTokenizerFast, build_backend_tokenizer
from albert_bridge.tokenization.files import describe_tokenizer, find_tokenizer_files
from albert_bridge.tokenization.slow import AlbertTokenizer

__all__ = [
    "AlbertTokenizer",
    "AlbertTokenizerFast",
    "BatchEncoding",
    "build_backend_tokenizer",
    "describe_tokenizer",
    "find_tokenizer_files",
]
