"""Saving and loading in transformers' layout: tokenizer_config.json, special_tokens_map.json, spiece.model,
added_tokens.json (and tokenizer.json from the fast tokenizer); `from_pretrained` reads local files or a Hub id.

A mixin of `AlbertTokenizerBase`.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.tokenization.added_tokens import AddedToken
from albert_bridge.tokenization.chat_template import write_chat_templates
from albert_bridge.tokenization.files import (
    ADDED_TOKENS_FILE,
    CONFIG_FILE,
    SPECIAL_TOKEN_ATTRS,
    SPECIAL_TOKENS_MAP_FILE,
    VOCAB_FILE,
    TokenizerSource,
    resolve_tokenizer_source,
    spm_model_from_tokenizer_json,
)


class SaveLoad:
    """save_pretrained / save_vocabulary / from_pretrained."""

    # ----------------------------------------------------------------- save / load
    tokenizer_class_name = "AlbertTokenizer"  # transformers writes the slow class name for both

    def _config(self) -> dict[str, Any]:
        config = {
            "added_tokens_decoder": {str(i): tok.as_dict() for i, tok in sorted(self._added_tokens_decoder.items())},
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "do_lower_case": self.do_lower_case,
            "keep_accents": self.keep_accents,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "remove_space": self.remove_space,
            "sp_model_kwargs": self.sp_model_kwargs,
            "tokenizer_class": self.tokenizer_class_name,
            "truncation_side": self.truncation_side,
        }
        config.update(self.special_tokens_map)
        return dict(sorted(config.items()))

    def _special_tokens_map_json(self) -> dict[str, Any]:
        def form(value: Any) -> Any:
            if isinstance(value, str):
                return value
            token = AddedToken.of(value).as_dict()
            token.pop("special")
            return token

        out: dict[str, Any] = {}
        for attr in sorted((*SPECIAL_TOKEN_ATTRS, "additional_special_tokens")):
            value = self._special_tokens_map.get(attr)
            if attr == "additional_special_tokens":
                if value:
                    out[attr] = [form(self._added_tokens_decoder.get(self._token_to_id(str(t)), t)) for t in value]
            elif value is not None:
                token = self._added_tokens_decoder.get(self._token_to_id(str(value)))
                stripped = token is not None and str(token) == str(value) and (token.lstrip or token.rstrip)
                out[attr] = form(token) if stripped else str(value)
        return out

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write spiece.model (the original bytes when we have them) and return its path."""
        directory = pathlib.Path(save_directory)
        if not directory.is_dir():
            raise BridgeError("save_vocabulary needs an existing directory", file=directory)
        out = directory / ((filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE)
        out.write_bytes(self.spm_model.serialize())
        return (str(out),)

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None,
                        **kwargs: Any) -> tuple[str, ...]:
        """Write tokenizer_config.json, special_tokens_map.json, spiece.model and, with added tokens,
        added_tokens.json (transformers' layout)."""
        if kwargs.pop("push_to_hub", False):
            raise NotYetSupported("push_to_hub is not supported; albert_bridge never touches the network")
        kwargs.pop("legacy_format", None)
        save_jinja_files = kwargs.pop("save_jinja_files", True)
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
        directory = pathlib.Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise BridgeError("save_pretrained needs a directory, this is a file", file=directory)
        directory.mkdir(parents=True, exist_ok=True)
        prefix = filename_prefix + "-" if filename_prefix else ""
        config, written = self._config(), []
        if self.chat_template is not None:
            files, in_config = write_chat_templates(self.chat_template, directory, prefix, save_jinja_files)
            written.extend(files)
            if in_config is not None:
                config["chat_template"] = in_config
        payloads = [(CONFIG_FILE, config), (SPECIAL_TOKENS_MAP_FILE, self._special_tokens_map_json())]
        for name, payload in payloads:
            path = directory / (prefix + name)
            path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(str(path))
        written.extend(self.save_vocabulary(directory, filename_prefix))
        new = {tok.content: i for i, tok in self._added_tokens_decoder.items() if i >= self.vocab_size}
        if new:
            path = directory / (prefix + ADDED_TOKENS_FILE)
            path.write_text(json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(str(path))
        written.extend(self._save_extra(directory, prefix))
        return tuple(written)

    def _save_extra(self, directory: pathlib.Path, prefix: str) -> list[str]:
        return []

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Load from a local directory (spiece.model / *.model / tokenizer.json + configs), a .model file, or a Hub
        repo id `org/name[@revision]` (its tokenizer files, fetched into huggingface_hub's cache; a local path that
        exists wins). Keyword arguments override the saved config.
        """
        # Here, not at the top: `sources` knows the format registry, which loads numpy, and the tokenizers load with
        # the standard library alone (a Hub id costs a download anyway).
        from albert_bridge.sources import FETCH_ARGUMENTS, resolve_pretrained

        fetching = {key: kwargs.pop(key) for key in FETCH_ARGUMENTS if key in kwargs}
        for key in ("use_fast", "trust_remote_code"):
            kwargs.pop(key, None)  # transformers' options that choose code: there is only ours
        source = resolve_tokenizer_source(resolve_pretrained(pretrained_model_name_or_path, fetching, tokenizer=True))
        init = dict(source.init_kwargs)
        init.update(kwargs)
        return cls._from_source(source, name_or_path=str(pretrained_model_name_or_path), **init)

    @classmethod
    def _from_source(cls, source: TokenizerSource, **kwargs: Any):
        """The tokenizer for the files `resolve_tokenizer_source` found (a subclass may read other kinds)."""
        if source.wordpiece_vocab is not None:
            raise BridgeError("a WordPiece vocabulary (BERT's vocab.txt, as in the Chinese ALBERT releases), not a "
                              "SentencePiece model: load it with AlbertTokenizerFast (or transformers' BertTokenizer)",
                              file=source.wordpiece_vocab)
        if source.vocab_file is not None:
            return cls(source.vocab_file, **kwargs)
        return cls._from_tokenizer_json(source.tokenizer_file, **kwargs)

    @classmethod
    def _from_tokenizer_json(cls, tokenizer_file: pathlib.Path, **kwargs: Any):
        return cls(None, spm_model=spm_model_from_tokenizer_json(tokenizer_file), **kwargs)
