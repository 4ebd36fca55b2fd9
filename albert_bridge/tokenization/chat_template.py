"""Chat templates as transformers 4.57 renders, saves and loads them: every transformers tokenizer has
`apply_chat_template`, and an encoder's tokenizer renders a template like any other.

A template is Jinja in a sandbox (`ImmutableSandboxedEnvironment`, `trim_blocks`, `lstrip_blocks`, loop controls),
with transformers' extras: `tojson` keeping non-ASCII, `raise_exception(message)`, `strftime_now(format)`, and the
`{% generation %}` block (rendered as its content; the assistant-token mask it feeds is not implemented).
Templates are saved as `chat_template.jinja` (+ `additional_chat_templates/<name>.jinja` for named ones) or, with
`save_jinja_files=False`, inside tokenizer_config.json; a `chat_template.jinja` beside a config wins over it.

A mixin of `AlbertTokenizerBase`; jinja2 is imported when a template is rendered (`albert-bridge[text]`).
"""

from __future__ import annotations

import copy
import functools
import json
import pathlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.tokenizer_files import ADDITIONAL_CHAT_TEMPLATES_DIR, CHAT_TEMPLATE_FILE, CHAT_TEMPLATE_JSON_FILE

DEFAULT_TEMPLATE_NAME = "default"


def _jinja2():
    try:
        import jinja2
        import jinja2.ext
        import jinja2.sandbox
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BridgeError("chat templates need `jinja2` (pip install 'albert-bridge[text]')") from exc
    return jinja2


@functools.lru_cache(maxsize=16)
def compile_template(source: str):
    """The compiled template (cached by source, as transformers caches it)."""
    jinja2 = _jinja2()

    class Generation(jinja2.ext.Extension):
        # transformers marks assistant text with {% generation %}...{% endgeneration %}; here the block renders as
        # its content (the tag must parse, or templates that use it could not be rendered at all).
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body, lineno=lineno)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise BridgeError(f"chat template: {exc.message} (line {exc.lineno})") from None


# continue_final_message: the final message's text gets this tag, and the render is cut where it lands, so an
# earlier message with the same text, or a template that trims it, cannot move the cut (transformers' method).
CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def _tag_final_message(chat: list) -> list:
    """A copy of `chat` whose final message's (last) text ends with CONTINUE_TAG."""
    chat = copy.deepcopy(chat)
    content = chat[-1]["content"]
    if isinstance(content, (list, tuple)):
        blocks = [b for b in content if isinstance(b, Mapping) and "text" in b]
        if not blocks:
            raise ValueError("continue_final_message is set but we could not find any text to continue in the "
                             "final message!")
        blocks[-1]["text"] += CONTINUE_TAG
    else:
        chat[-1]["content"] = content + CONTINUE_TAG
    return chat


def _cut_at_tag(rendered: str, final_text: str) -> str:
    if final_text.strip() not in rendered or CONTINUE_TAG.strip() not in rendered:
        raise ValueError("continue_final_message is set but the final message does not appear in the chat after "
                         "applying the chat template! This can happen if the chat template deletes portions of the "
                         "final message. Please verify the chat template and final message in your chat to ensure "
                         "they are compatible.")
    at = rendered.rindex(CONTINUE_TAG.strip())
    if rendered[at:at + len(CONTINUE_TAG)] == CONTINUE_TAG:
        return rendered[:at]
    return rendered[:at].rstrip()  # the template trimmed the message's end, and the tag's space with it


def read_chat_templates(directory: pathlib.Path, config: Mapping[str, Any]) -> str | dict[str, str] | None:
    """The chat template(s) saved in `directory`: chat_template.jinja (or the older chat_template.json) over the
    config's `chat_template`, plus additional_chat_templates/*.jinja; one unnamed template is a str."""
    templates: dict[str, str] = {}
    saved = config.get("chat_template")
    if isinstance(saved, str):
        templates[DEFAULT_TEMPLATE_NAME] = saved
    elif isinstance(saved, list):
        templates.update({entry["name"]: entry["template"] for entry in saved})
    jinja_file, json_file = directory / CHAT_TEMPLATE_FILE, directory / CHAT_TEMPLATE_JSON_FILE
    if jinja_file.is_file():
        templates[DEFAULT_TEMPLATE_NAME] = jinja_file.read_text(encoding="utf-8")
    elif json_file.is_file():
        value = json.loads(json_file.read_text(encoding="utf-8")).get("chat_template")
        if not isinstance(value, str):
            raise BridgeError("expected {\"chat_template\": \"...\"}", file=json_file)
        templates[DEFAULT_TEMPLATE_NAME] = value
    extra = directory / ADDITIONAL_CHAT_TEMPLATES_DIR
    if extra.is_dir():
        templates.update({p.stem: p.read_text(encoding="utf-8") for p in sorted(extra.glob("*.jinja"))})
    if not templates:
        return None
    if list(templates) == [DEFAULT_TEMPLATE_NAME]:
        return templates[DEFAULT_TEMPLATE_NAME]
    return templates


def write_chat_templates(template: str | dict[str, str], directory: pathlib.Path, prefix: str,
                         save_jinja_files: bool) -> tuple[list[str], Any]:
    """Write `template` as transformers 4.57 does; returns (files written, the config's `chat_template` value or
    None when the files hold it)."""
    if not save_jinja_files:
        if isinstance(template, dict):
            return [], [{"name": name, "template": body} for name, body in template.items()]
        return [], template
    named = dict(template) if isinstance(template, dict) else {DEFAULT_TEMPLATE_NAME: template}
    written = []
    for name, body in named.items():
        if name == DEFAULT_TEMPLATE_NAME:
            path = directory / (prefix + CHAT_TEMPLATE_FILE)
        else:
            path = directory / ADDITIONAL_CHAT_TEMPLATES_DIR / f"{name}.jinja"
            path.parent.mkdir(exist_ok=True)
        path.write_text(body, encoding="utf-8")
        written.append(str(path))
    return written, None


class ChatTemplateAPI:
    """`chat_template`, `get_chat_template`, `apply_chat_template` (transformers' PreTrainedTokenizerBase)."""

    chat_template: str | dict[str, str] | None = None

    def get_chat_template(self, chat_template: str | None = None, tools: list | None = None) -> str:
        """The template source to render: a name of `self.chat_template`'s, a template string, or the default."""
        own = self.chat_template
        if isinstance(own, dict):
            if chat_template is not None and chat_template in own:
                return own[chat_template]
            if chat_template is not None:
                return chat_template
            if tools is not None and "tool_use" in own:
                return own["tool_use"]
            if DEFAULT_TEMPLATE_NAME in own:
                return own[DEFAULT_TEMPLATE_NAME]
            raise ValueError(f"This model has multiple chat templates with no default specified! Please either pass "
                             f"a chat template or the name of the template you wish to use to the `chat_template` "
                             f"argument. Available template names are {sorted(own)}.")
        if chat_template is not None:
            return chat_template
        if own is None:
            raise ValueError("Cannot use chat template functions because tokenizer.chat_template is not set and no "
                             "template argument was passed!")
        return own

    def apply_chat_template(
        self,
        conversation: Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]],
        tools: list | None = None,
        documents: list | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = True,
        padding: Any = False,
        truncation: Any = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_dict: bool = False,
        return_assistant_tokens_mask: bool = False,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        """Render `conversation` (a list of {"role", "content"} messages, or a batch of them) with the chat
        template; with `tokenize` (default) return its ids (or, with `return_dict`, the BatchEncoding)."""
        if return_dict and not tokenize:
            raise ValueError("`return_dict=True` is incompatible with `tokenize=False`, because there is no dict of "
                             "tokenizer outputs to return.")
        if return_assistant_tokens_mask:
            raise NotYetSupported("return_assistant_tokens_mask is not implemented ({% generation %} blocks render "
                                  "as their content)")
        if continue_final_message and add_generation_prompt:
            raise ValueError("continue_final_message and add_generation_prompt are not compatible. Use "
                             "continue_final_message when you want the model to continue the final message, and "
                             "add_generation_prompt when you want to add a header that will prompt it to start a new "
                             "assistant message instead.")
        if tools is not None and any(callable(tool) for tool in tools):
            raise NotYetSupported("tools as Python functions are not supported: pass their JSON schemas (dicts)")
        template = compile_template(self.get_chat_template(chat_template, tools))
        batched = isinstance(conversation, (list, tuple)) and bool(conversation) and (
            isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages"))
        chats = conversation if batched else [conversation]
        variables = {**self.special_tokens_map, **kwargs}
        rendered = []
        if documents is not None and not all(isinstance(d, dict) for d in documents):
            raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
        for chat in chats:
            chat = list(getattr(chat, "messages", chat))
            if continue_final_message:
                tagged = _tag_final_message(chat)
                final = tagged[-1]["content"]
                final_text = (final if isinstance(final, str) else
                              [b for b in final if isinstance(b, Mapping) and "text" in b][-1]["text"])
                text = template.render(messages=tagged, tools=tools, documents=documents,
                                       add_generation_prompt=add_generation_prompt, **variables)
                text = _cut_at_tag(text, final_text.removesuffix(CONTINUE_TAG))
            else:
                text = template.render(messages=chat, tools=tools, documents=documents,
                                       add_generation_prompt=add_generation_prompt, **variables)
            rendered.append(text)
        if not batched:
            rendered = rendered[0]
        if not tokenize:
            return rendered
        encoded = self(rendered, padding=padding, truncation=truncation, max_length=max_length,
                       add_special_tokens=False, return_tensors=return_tensors, **(tokenizer_kwargs or {}))
        return encoded if return_dict else encoded["input_ids"]
