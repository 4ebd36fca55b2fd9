"""Where a source comes from, function by function: the environment as huggingface_hub reads it, the token's
lookup order, local paths, Hub errors as one line, and from_pretrained's fetching keywords. No server: each
function is called with the inputs that decide it (the loopback Hub tests in test_hub.py cover the whole fetch)."""

import pytest

from albert_bridge import sources
from albert_bridge.errors import BridgeError
from albert_bridge.formats import FORMATS, get_format
from albert_bridge.sources import RepoSpec, find_token, first_format, glob_escape, is_local, model_patterns, settings
from albert_bridge.tokenizer_files import TOKENIZER_PATTERNS

pytestmark = pytest.mark.hub

_HUB_ENV = ("HF_HOME", "XDG_CACHE_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT",
            "HF_TOKEN_PATH", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean Hub environment with HOME in tmp_path."""
    for name in _HUB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def test_settings_default_to_the_home_cache_and_the_public_hub(env, tmp_path):
    assert settings() == sources.HubSettings(
        endpoint="https://huggingface.co", cache_dir=str(tmp_path / ".cache/huggingface/hub"), offline=False,
        token_path=str(tmp_path / ".cache/huggingface/token"))


def test_settings_follow_each_variable(env, tmp_path):
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings().cache_dir == str(tmp_path / "xdg/huggingface/hub")
    env.setenv("HF_HOME", "~/hf")  # HF_HOME wins over XDG_CACHE_HOME, and ~ is expanded
    assert settings().cache_dir == str(tmp_path / "hf/hub") and settings().token_path == str(tmp_path / "hf/token")
    env.setenv("SOMEWHERE", str(tmp_path / "elsewhere"))
    env.setenv("HF_HUB_CACHE", "$SOMEWHERE/cache")  # the cache alone, variables expanded
    env.setenv("HF_TOKEN_PATH", "$SOMEWHERE/tok")
    assert settings().cache_dir == str(tmp_path / "elsewhere/cache")
    assert settings().token_path == str(tmp_path / "elsewhere/tok")
    env.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert settings().endpoint == "http://127.0.0.1:9"  # no trailing slash: URLs are joined with "/"


@pytest.mark.parametrize("value, offline", [("1", True), ("ON", True), ("yes", True), ("True", True), ("0", False),
                                            ("", False), ("off", False)])
@pytest.mark.parametrize("name", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_is_any_truthy_spelling_of_either_variable(env, name, value, offline):
    env.setenv(name, value)
    assert settings().offline is offline


def test_the_token_given_then_hf_token_then_the_login_file(env, tmp_path):
    token_file = tmp_path / ".cache/huggingface/token"
    assert find_token() is None  # nothing anywhere
    token_file.parent.mkdir(parents=True)
    token_file.write_text("  \n")
    assert find_token() is None  # an empty login file is no token
    token_file.write_text(" from-login \n")
    assert find_token() == "from-login"
    env.setenv("HUGGING_FACE_HUB_TOKEN", " legacy ")
    assert find_token() == "legacy"
    env.setenv("HF_TOKEN", "  ")  # blank: no token from the environment (it hides the legacy name, as
    assert find_token() == "from-login"  # huggingface_hub's own lookup does), the login answers
    env.setenv("HF_TOKEN", " env-token\n")
    assert find_token() == "env-token"
    assert find_token("explicit") == "explicit"
    assert find_token("") == "env-token"  # an empty --token is no token


def test_a_local_path_is_a_file_a_folder_or_a_checkpoint_prefix(tmp_path):
    (tmp_path / "model.ckpt-best.index").write_bytes(b"")
    (tmp_path / "odd[1]*?.index").write_bytes(b"")
    assert is_local(tmp_path) and is_local(tmp_path / "model.ckpt-best.index")
    assert is_local(tmp_path / "model.ckpt-best")  # a prefix names no file of its own
    assert is_local(tmp_path / "odd[1]*?")  # glob characters in the name are literal
    assert not is_local(tmp_path / "odd1")  # (unescaped, `odd[1]*?` would match `odd1...` names)
    (tmp_path / "odd1x.index").write_bytes(b"")
    assert not is_local(tmp_path / "odd[1]x?")
    assert not is_local(tmp_path / "model.ckpt") and not is_local(tmp_path / "missing" / "model.ckpt-best")
    assert glob_escape("a*b?c[d]") == "a[*]b[?]c[[]d]"


def test_what_a_repo_must_hand_over_and_which_format_it_is_read_as():
    fmt = get_format("safetensors")
    assert model_patterns(fmt) == [*fmt.hub_files, "config.json", *TOKENIZER_PATTERNS]
    assert first_format(["README.md", "tf_model.h5", "model.safetensors"]) is FORMATS["safetensors"]  # detection order
    assert first_format(["flax_model.msgpack", "tf_model.h5"]) is FORMATS["tf"]
    assert first_format(["albert_config.json", "model.ckpt-best.index"]) is FORMATS["tf1"]
    assert first_format(["README.md", "config.json"]) is None and first_format([]) is None


# ---- Hub errors: one line naming the repo, per kind of failure ------------------------------------------------------

def _response(status: int, reason: str | None):
    import requests

    response = requests.Response()
    response.status_code, response.reason = status, reason
    return response


def _online(offline: bool = False) -> sources.HubSettings:
    return sources.HubSettings("http://hub.test", "/cache", offline, "/token")


def _hub_errors():
    from huggingface_hub import errors

    return errors


@pytest.mark.parametrize("make, spec, settings_, cache_only, message", [
    (lambda e: e.GatedRepoError("gated"), "org/m", _online(), None,
     "gated repository: request access on the Hub, then pass a token (--token, HF_TOKEN or hf auth login)"),
    (lambda e: e.RepositoryNotFoundError("404"), "org/m", _online(), None,
     "no such repository on http://hub.test (nor a local path); a private one needs a token"),
    (lambda e: e.RevisionNotFoundError("404"), RepoSpec("org/m", "v2"), _online(), None,
     "no revision 'v2' in the repository"),
    (lambda e: e.RevisionNotFoundError("404"), RepoSpec("org/m"), _online(), None,
     "no revision 'main' in the repository"),
    (lambda e: e.RevisionNotFoundError("404"), "org/m", _online(), None,  # a spec given as text has no revision
     "no revision 'main' in the repository"),
    (lambda e: e.LocalEntryNotFoundError("not cached"), "org/m", _online(), "local_files_only is set",
     "neither a local path nor in the Hub cache, and local_files_only is set"),
    (lambda e: e.LocalEntryNotFoundError("not cached"), "org/m", _online(), None,
     "neither a local path nor in the Hub cache, and http://hub.test cannot be reached"),
    (lambda e: e.EntryNotFoundError("404"), "org/m", _online(), None, "a file is missing in the repository"),
    (lambda e: __import__("requests").ConnectionError("refused"), "org/m", _online(True), None,
     "HF_HUB_OFFLINE is set: the Hub is not asked"),
    (lambda e: __import__("requests").ConnectionError("refused"), "org/m", _online(), None,
     "cannot reach the Hub at http://hub.test"),
    (lambda e: e.OfflineModeIsEnabled("offline mode is enabled"), "org/m", _online(True), None,
     "HF_HUB_OFFLINE is set: the Hub is not asked"),
    (lambda e: __import__("requests").Timeout("slow"), "org/m", _online(), None,
     "cannot reach the Hub at http://hub.test"),
    (lambda e: __import__("requests").HTTPError(response=_response(401, "Unauthorized")), "org/m", _online(), None,
     "the Hub rejected the token (401 Unauthorized)"),
    (lambda e: __import__("requests").HTTPError(response=_response(403, "Forbidden")), "org/m", _online(), None,
     "the token may not do this (403 Forbidden: a read-only token, or someone else's namespace)"),
    (lambda e: __import__("requests").HTTPError(response=_response(503, "Service Unavailable")), "org/m", _online(),
     None, "the Hub answered 503 Service Unavailable"),
    (lambda e: __import__("requests").HTTPError(response=_response(502, None)), "org/m", _online(), None,
     "the Hub answered 502"),
    (lambda e: __import__("requests").HTTPError("no response"), "org/m", _online(), None,
     "HTTPError: no response"),
    (lambda e: ValueError("  first line\nsecond line  "), "org/m", _online(), None, "ValueError: first line"),
    (lambda e: ValueError(""), "org/m", _online(), None, "ValueError: "),
    (lambda e: OSError("x" * 300), "org/m", _online(), None, "OSError: " + "x" * 200),
])
def test_each_hub_failure_is_one_line_naming_the_repo(make, spec, settings_, cache_only, message):
    pytest.importorskip("huggingface_hub")
    error = sources.hub_error(make(_hub_errors()), spec, settings_, cache_only)
    assert isinstance(error, BridgeError) and error.exit_code == 3
    assert (error.file, error.tensor, error.message) == (str(spec), None, message)
    assert str(error) == f"{spec}: {message}" and "\n" not in str(error)


# ---- from_pretrained's fetching keywords --------------------------------------------------------------------------

@pytest.fixture
def resolved(monkeypatch):
    """What resolve_pretrained hands to resolve_source."""
    calls = []
    monkeypatch.setattr(sources, "resolve_source", lambda *args, **kwargs: calls.append((args, kwargs)) or "done")
    return calls


def test_from_pretrained_keywords_reach_the_fetch(resolved):
    options = {"revision": "v1", "token": "tok", "use_auth_token": "old", "cache_dir": "/c", "local_files_only": 1}
    assert sources.resolve_pretrained("org/m", options, "tf", tokenizer=True) == "done"
    assert resolved == [(("org/m", "tf"), {"tokenizer": True, "revision": "v1", "token": "tok", "cache_dir": "/c",
                                           "local_files_only": True})]
    sources.resolve_pretrained("org/m", {"use_auth_token": "old"})  # transformers' older spelling of token=
    sources.resolve_pretrained("org/m", {"token": ""})  # an empty token is none
    assert [kw for _, kw in resolved[1:]] == [
        {"tokenizer": False, "revision": None, "token": "old", "cache_dir": None, "local_files_only": False},
        {"tokenizer": False, "revision": None, "token": None, "cache_dir": None, "local_files_only": False}]
    assert resolved[1][0] == ("org/m", None)


def test_subfolder_is_refused_for_a_hub_repo_only(resolved, tmp_path):
    with pytest.raises(BridgeError) as caught:
        sources.resolve_pretrained("org/m", {"subfolder": "sub"})
    assert (caught.value.file, caught.value.message) == ("org/m", "subfolder= is not supported for Hub repos")
    sources.resolve_pretrained("org/m", {"subfolder": ""})  # empty: no subfolder
    local = tmp_path / "org" / "m"
    local.mkdir(parents=True)
    sources.resolve_pretrained(str(local), {"subfolder": "sub"})  # a local path: nothing to fetch
    assert [args for args, _ in resolved] == [("org/m", None), (str(local), None)]


def test_a_fetched_folder_without_what_was_asked_names_the_repo(tmp_path):
    spec = RepoSpec("org/m", "v1")
    with pytest.raises(BridgeError) as caught:
        sources._check_fetched(tmp_path / "missing", spec, None, True, "HF_HUB_OFFLINE is set")
    assert str(caught.value) == "org/m@v1: no tokenizer files (spiece.model, tokenizer.json, vocab.txt) in the cache " \
                                "(HF_HUB_OFFLINE is set)"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "spiece.model").write_bytes(b"x")
    sources._check_fetched(tmp_path, spec, None, True, None)  # found one level down, as snapshots nest them
    with pytest.raises(BridgeError) as caught:
        sources._check_fetched(tmp_path, spec, None, False, None)
    assert str(caught.value) == "org/m@v1: no ALBERT checkpoint"
    (tmp_path / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(BridgeError) as caught:
        sources._check_fetched(tmp_path, spec, get_format("tf"), False, "local_files_only is set")
    assert str(caught.value) == "org/m@v1: no HF TF2 tf_model.h5 in the cache (local_files_only is set)"


def test_without_huggingface_hub_a_repo_id_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(BridgeError) as caught:
        sources.huggingface_hub_client(_online())
    assert str(caught.value) == "Hub access needs huggingface_hub: pip install 'albert-bridge[hub]'"


# ---- fetching, against the loopback Hub ------------------------------------------------------------------------------

def test_local_files_only_asks_the_cache_alone(online):  # noqa: F811 - the conftest fixture
    from tests.helpers import FIXTURE

    files = {name: (FIXTURE / name).read_bytes() for name in ("config.json", "model.safetensors")}
    online.add_repo("org/cached-later", files)
    before = len(online.requests)
    with pytest.raises(BridgeError) as caught:
        sources.resolve_source("org/cached-later", "safetensors", local_files_only=True)
    assert str(caught.value) == ("org/cached-later: neither a local path nor in the Hub cache, and local_files_only "
                                 "is set")
    assert len(online.requests) == before  # not asked at all
    folder = sources.resolve_source("org/cached-later", "safetensors")  # fetched once ...
    asked = len(online.requests)
    assert sources.resolve_source("org/cached-later", "safetensors", local_files_only=True) == folder
    assert len(online.requests) == asked  # ... then served by the cache alone


def test_a_repo_without_a_checkpoint_says_what_was_looked_for(online):  # noqa: F811
    online.add_repo("org/just-a-card", {"README.md": b"# nothing else\n"})
    with pytest.raises(BridgeError) as caught:
        sources.resolve_source("org/just-a-card")
    looked_for = ", ".join(f.describe for f in FORMATS.values() if f.available)
    assert str(caught.value) == f"org/just-a-card: the repository holds no ALBERT checkpoint (looked for {looked_for})"
