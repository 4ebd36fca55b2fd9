"""transformers 4.57's own ALBERT tokenizer tests with our classes (tools/transformers_suite_tokenizers.py), and
`apply_chat_template` / chat-template files made on transformers 4.57's tokenizers and on ours, compared exactly.

The suite test runs only our side (the transformers side is recorded in tests/data/transformers_suite/
tokenizers.json, from `tools/transformers_suite_tokenizers.py run`): every test that passes with transformers'
classes passes with ours, except the recorded ones, each with its reason (README, "Switching from transformers 4").
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.tokenization import AlbertTokenizer, AlbertTokenizerFast
from tests.helpers import ROOT
from tests.test_tokenization import SPIECE

transformers = pytest.importorskip("transformers")
pytest.importorskip("jinja2")

EXPECTED = ROOT / "tests" / "data" / "transformers_suite" / "tokenizers.json"


@pytest.mark.slow
def test_transformers_suite_with_our_classes():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import transformers_suite_tokenizers as suite
    finally:
        sys.path.remove(str(ROOT / "tools"))
    if not (suite.SUITE_DIR / suite.TEST_FILE).is_file():
        pytest.skip("transformers' test files are not laid out: run tools/transformers_suite_tokenizers.py prepare")
    expected = json.loads(EXPECTED.read_text())
    # The documented subset: all but the two subword-sampling tests (~30 s of the ~55 s on 2 cores; sampling is
    # compared with transformers' in tests/test_dropin_tokenizers.py; `tools/... run` runs them too).
    ours = suite.run_once("ours", select="not subword_regularization")
    theirs = [name for name in expected["passing_with_transformers"] if "subword_regularization" not in name]
    failing = sorted(name for name in theirs if ours.get(name) != "passed")
    assert failing == sorted(expected["failing_with_ours"]), failing
    assert len(theirs) - len(failing) >= expected["target"] - 2


# ------------------------------------------------------------------------------------------- apply_chat_template
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim"
          " + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
TEMPLATES = [
    CHATML,
    # special tokens and extra keywords are template variables; tojson keeps non-ASCII
    "{{ cls_token }}{% for m in messages %}{{ m.role | upper }}: {{ m.content | tojson }} {{ sep_token }}"
    "{% endfor %}{{ extra | default('none') }}",
    # loop controls, and the {% generation %} block that transformers' templates use to mark assistant text
    "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{% if m.role == 'assistant' %}"
    "{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %} {% endfor %}",
    # trim_blocks / lstrip_blocks
    "{% for m in messages %}\n    {% if m.role == 'user' %}\n  U:{{ m.content }}\n    {% endif %}\n{% endfor %}",
]
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, café 1,000 words?"},
        {"role": "assistant", "content": "Fine, thanks.  "}]
CHATS = [CHAT, [{"role": "user", "content": "A second chat"}, {"role": "assistant", "content": "and its answer"}]]


@pytest.fixture(scope="module")
def pairs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = [transformers.AlbertTokenizer(str(SPIECE)), transformers.AlbertTokenizerFast(vocab_file=str(SPIECE))]
    return list(zip(theirs, [AlbertTokenizer(SPIECE), AlbertTokenizerFast(SPIECE)]))


@pytest.mark.parametrize("template", range(len(TEMPLATES)))
@pytest.mark.parametrize("options", [
    {"tokenize": False}, {"tokenize": False, "add_generation_prompt": True},
    {"tokenize": False, "continue_final_message": True}, {"tokenize": False, "extra": "ünïcode"},
    {}, {"return_dict": True, "truncation": True, "max_length": 9},
])
@pytest.mark.parametrize("batched", [False, True])
def test_apply_chat_template_as_transformers(pairs, template, options, batched):
    conversation = CHATS if batched else CHAT
    # Ids: ours (slow and fast) give transformers' slow tokenizer's ids (its fast one differs on some texts,
    # tests/test_dropin_tokenizers.py), so both are compared with its slow tokenizer when tokenizing.
    tokenize = options.get("tokenize", True)
    for theirs, ours in [(pairs[0][0] if tokenize else t, o) for t, o in pairs]:
        try:
            want = theirs.apply_chat_template(conversation, chat_template=TEMPLATES[template], **options)
        except ValueError as error:  # e.g. continue_final_message on a template that drops the final message
            with pytest.raises(ValueError) as got:
                ours.apply_chat_template(conversation, chat_template=TEMPLATES[template], **options)
            assert str(got.value) == str(error)
            continue
        got = ours.apply_chat_template(conversation, chat_template=TEMPLATES[template], **options)
        if options.get("return_dict"):
            want, got = dict(want), dict(got)
        assert got == want


def test_named_templates_and_errors_as_transformers(pairs):
    named = {"default": CHATML, "tool_use": "{{ tools | tojson }}", "other": "{{ messages | length }}"}
    for theirs, ours in pairs:
        for tok in (theirs, ours):
            tok.chat_template = named
        for kwargs in ({}, {"chat_template": "other"}, {"tools": [{"name": "f", "parameters": {}}]},
                       {"chat_template": "{{ 'inline' }}"}):
            assert ours.apply_chat_template(CHAT, tokenize=False, **kwargs) == \
                theirs.apply_chat_template(CHAT, tokenize=False, **kwargs)
        for kwargs, error in (({"add_generation_prompt": True, "continue_final_message": True}, ValueError),
                              ({"return_dict": True, "tokenize": False}, ValueError),
                              ({"chat_template": "{{ raise_exception('no system role') }}"}, Exception)):
            with pytest.raises(error) as want:
                theirs.apply_chat_template(CHAT, **kwargs)
            with pytest.raises(error) as got:
                ours.apply_chat_template(CHAT, **kwargs)
            assert str(got.value) == str(want.value)
        for tok in (theirs, ours):
            tok.chat_template = None
        with pytest.raises(ValueError, match="chat_template is not set"):
            ours.apply_chat_template(CHAT)


def test_chat_template_refusals_are_one_line():
    tok = AlbertTokenizer(SPIECE)
    for call in (lambda: tok.apply_chat_template(CHAT, chat_template="{% for %}"),
                 lambda: tok.apply_chat_template(CHAT, chat_template=CHATML, return_assistant_tokens_mask=True),
                 lambda: tok.apply_chat_template(CHAT, chat_template=CHATML, tools=[len])):
        with pytest.raises((BridgeError, NotYetSupported)) as err:
            call()
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("template", [CHATML, {"default": CHATML, "second": "{{ 'b' }}"}, {"only": "{{ 'c' }}"}],
                         ids=["one", "named", "no-default"])
@pytest.mark.parametrize("save_jinja_files", [True, False])
def test_chat_template_files_as_transformers(tmp_path, template, save_jinja_files):
    """Ours saves the files transformers saves (names and contents), and each side loads the other's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = transformers.AlbertTokenizer(str(SPIECE))
    ours = AlbertTokenizer(SPIECE)
    for tok, out in ((theirs, tmp_path / "theirs"), (ours, tmp_path / "ours")):
        tok.chat_template = template
        tok.save_pretrained(out, save_jinja_files=save_jinja_files)

    def chat_files(directory: Path) -> dict[str, str]:
        return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*"))
                if p.suffix == ".jinja" or p.name == "chat_template.json"}

    assert chat_files(tmp_path / "ours") == chat_files(tmp_path / "theirs")
    config = {d: json.loads((tmp_path / d / "tokenizer_config.json").read_text()) for d in ("ours", "theirs")}
    assert config["ours"].get("chat_template") == config["theirs"].get("chat_template")
    assert transformers.AlbertTokenizer.from_pretrained(tmp_path / "ours").chat_template == template
    assert AlbertTokenizer.from_pretrained(tmp_path / "theirs").chat_template == template
    assert AlbertTokenizerFast.from_pretrained(tmp_path / "theirs").chat_template == template


def test_chat_template_jinja_file_wins_over_config(tmp_path):
    ours = AlbertTokenizer(SPIECE, chat_template="a")
    ours.save_pretrained(tmp_path, save_jinja_files=False)
    (tmp_path / "chat_template.jinja").write_text("b")
    assert AlbertTokenizer.from_pretrained(tmp_path).chat_template == "b"
    assert transformers.AlbertTokenizer.from_pretrained(tmp_path).chat_template == "b"


# ------------------------------------------------------------------------------- the smaller API the suite uses
def test_smaller_api_as_transformers(pairs):
    """The pieces transformers' suite exercises, compared directly (the suite itself needs transformers' files)."""
    for theirs, ours in pairs:
        for tok in (theirs, ours):
            tok.model_max_length = 40
        assert (ours.max_len_single_sentence, ours.max_len_sentences_pair) == \
            (theirs.max_len_single_sentence, theirs.max_len_sentences_pair)
        assert ours.init_inputs == theirs.init_inputs == ()
        if not ours.is_fast:
            for token in ("<pad>", "▁the", "not-a-piece"):
                assert ours._convert_token_to_id(token) == theirs._convert_token_to_id(token)
            assert [ours._convert_id_to_token(i) for i in range(9)] == [theirs._convert_id_to_token(i) for i in range(9)]
        ids = ours.convert_tokens_to_ids(["▁a", "[MASK]"])
        for tok in (theirs, ours):
            tok.additional_special_tokens_ids = ids
        assert ours.additional_special_tokens == theirs.additional_special_tokens
        assert ours.additional_special_tokens_ids == theirs.additional_special_tokens_ids == ids
        for tok in (theirs, ours):
            tok.additional_special_tokens = None
        assert ours.additional_special_tokens is None and theirs.additional_special_tokens is None
        src, tgt = ["A first source text that is long", "b"], ["Its target text", "a longer second target text"]
        with pytest.warns(FutureWarning):
            got = ours.prepare_seq2seq_batch(src, tgt, max_length=5, max_target_length=7, src_lang="en")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = pairs[0][0].prepare_seq2seq_batch(src, tgt, max_length=5, max_target_length=7, src_lang="en")
        assert dict(got) == dict(want)  # ids: transformers' slow tokenizer's (ours, slow and fast)
        for key in ("add_special_tokens", "get_vocab"):
            with pytest.raises(AttributeError, match="conflicts with the method"):
                type(ours)(SPIECE, **{key: True})
            with pytest.raises(AttributeError, match="conflicts with the method"):
                type(theirs)(str(SPIECE), **{key: True})


def test_added_token_hashable_as_tokenizers():
    from tokenizers import AddedToken as RustAddedToken

    from albert_bridge.tokenization import AddedToken

    ours = [AddedToken("<x>", lstrip=True), AddedToken("<x>", lstrip=True), AddedToken("<x>")]
    theirs = [RustAddedToken("<x>", lstrip=True), RustAddedToken("<x>", lstrip=True), RustAddedToken("<x>")]
    assert len(set(ours)) == len(set(theirs)) == 2
    assert (ours[0] == ours[1], ours[0] == ours[2]) == (theirs[0] == theirs[1], theirs[0] == theirs[2])
