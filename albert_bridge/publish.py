"""The top floor: `push(src, "org/name")`: convert SRC into one Hub-ready folder, check with the parity harness that
the files themselves load with SRC's outputs on our backend and transformers' of their framework, write a model
card, and upload what changed in one commit (or a pull request).

It stands on everything below it: `sources` (SRC may be a Hub id; settings, token, one-line errors), `convert`,
`atomic` (the --dry-run folder) and `parity`. Nothing in the package imports it but the CLI (and the models'
`push_to_hub`, the one import that runs back up).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import convert as conversion_module  # called as conversion_module.convert: tests wrap it
from .atomic import atomic_directory
from .config import CONFIG_NAME
from .errors import BridgeError, ParityError
from .formats import FORMATS, Format, get_format
from .formats.hf_layout import weight_file_pattern
from .formats.keras_hub_preset import TARGET_HEADS, TASKS
from .inputs import make_inputs
from .parity import BACKENDS, check
from .parity.harness import read_text_file, text_inputs
from .schema import ARCHITECTURES, HeadKind
from .sources import (
    HubSettings,
    RepoSpec,
    find_token,
    hub_error,
    huggingface_hub_client,
    is_local,
    parse_repo_id,
    quiet_progress,
    resolve_source,
    settings,
)
from .tokenizer_files import TOKENIZER_FILE, VOCAB_FILE, WORDPIECE_VOCAB_FILE

FRAMEWORK_NAMES = {"torch": "PyTorch", "tf": "TensorFlow", "flax": "Flax", "onnx": "ONNX", "keras-hub": "keras-hub",
                   "tflite": "LiteRT (TFLite)"}
FRAMEWORK_TAGS = {"torch": ("pytorch", "safetensors"), "tf": ("tf",), "flax": ("jax",), "onnx": ("onnx",),
                  "keras-hub": ("keras-hub", "keras"), "tflite": ("tflite",)}
PIPELINE_TAGS = {
    HeadKind.BASE: "feature-extraction",
    HeadKind.PRETRAINING: "fill-mask",
    HeadKind.MASKED_LM: "fill-mask",
    HeadKind.SEQUENCE_CLASSIFICATION: "text-classification",
    HeadKind.MULTIPLE_CHOICE: "multiple-choice",
    HeadKind.TOKEN_CLASSIFICATION: "token-classification",
    HeadKind.QUESTION_ANSWERING: "question-answering",
}
REFERENCE_BACKENDS = ("torch", "flax", "tf")  # SRC runs on the first one installed


def publish_formats(names: Sequence[str] | str | None) -> list[Format]:
    """`--formats`: registry names of formats with a framework (transformers loads them); `all` (the default) is
    every publishable format that is available, so a format joins when it lands."""
    if names is None or names == "all" or list(names) == ["all"]:  # deployment tiers are asked for by name
        return [f for f in FORMATS.values() if f.publish and f.available and f.in_all]
    formats = [get_format(n) for n in ([names] if isinstance(names, str) else names)]
    alone = [fmt.name for fmt in formats if fmt.own_directory]
    if alone and len(formats) > 1:
        # keras-hub reads config.json at the root of what it loads, and its `hf://org/name` handle names a whole
        # repo (hf_hub_download(repo_id=...) refuses a subfolder): a preset cannot share a repo with transformers.
        raise BridgeError(f"format {alone[0]!r} needs a Hub repository of its own (keras-hub reads config.json at "
                          "the repo root, where transformers' is): push it to another repo, alone")
    for fmt in formats:
        if not fmt.publish and not fmt.own_directory:
            why = ("PyTorch weights are published as model.safetensors" if fmt.framework == "torch" else
                   "transformers does not load it")
            raise BridgeError(f"format {fmt.name!r} cannot be published: {why} "
                              f"(publishable: {', '.join(f.name for f in FORMATS.values() if f.publish)})")
        fmt.require()
    return list({f.name: f for f in formats}.values())


@dataclass
class PushResult:
    repo: str
    folder: Path | None                   # the dry-run folder
    report: Any                           # the parity Report
    verdict: str                          # what the card and the commit say about parity
    forced: str | None = None             # the warning --force wrote, when parity failed or was not checked
    files: dict[str, str] = field(default_factory=dict)  # name -> added | updated | unchanged | removed
    commit_url: str | None = None
    pr_url: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def committed(self) -> list[str]:
        return [name for name, state in self.files.items() if state != "unchanged"]


def push(src: str | os.PathLike, repo_id: str, *, formats: Sequence[str] | str | None = None,
         create_pr: bool = False, revision: str | None = None, private: bool = False,
         commit_message: str | None = None, token: str | None = None, dry_run: str | os.PathLike | None = None,
         force: bool = False, license: str | None = None, base_model: str | None = None,
         src_format: str | None = None, timeout: float | None = None,
         on_run: Callable[[Any], None] | None = None, backends: Sequence[str] | None = None,
         marker: str | None = None, text_file: str | os.PathLike | None = None) -> PushResult:
    """Convert SRC into a Hub-ready folder, prove with the parity harness that each published file loads with SRC's
    outputs, write the model card, and upload what differs from the repo in one commit (`create_pr`: a pull
    request). Parity that fails or could not be checked stops the push (ParityError / BridgeError) unless `force`,
    which says so in the card and the commit message. `dry_run`: write the folder there and upload nothing.
    `on_run` gets each parity run as it finishes. `backends` narrows the parity runs (the first installed one runs
    SRC; each published file runs on those of its framework); `marker` ends the commit title (a fleet finds its own
    open pull request by it). Deployment tiers (onnx-int8, tflite, tflite-int8) are measured instead: size, CPU
    latency relative to fp32 ONNX Runtime and agreement with fp32 on `text_file`'s texts (one a line, tokenized
    beside SRC; else random ids), all in the model card."""
    target = parse_repo_id(repo_id)
    if target is None or target.revision:
        raise BridgeError("expected a Hub repo id org/name (the branch goes in --revision)", file=repo_id)
    fmts = publish_formats(formats)
    if fmts and all(f.tier for f in fmts):
        raise BridgeError("deployment tiers are published beside the fp32 model they were made from: add an fp32 "
                          "format to --formats (e.g. safetensors,onnx," + ",".join(f.name for f in fmts) + ")")
    if dry_run is not None and Path(dry_run).exists() and (not Path(dry_run).is_dir() or any(Path(dry_run).iterdir())):
        raise BridgeError("the --dry-run directory must be new or empty", file=dry_run)
    current = settings()
    api = None
    if dry_run is None:  # the token first: a missing or rejected one should not wait for a conversion
        token = find_token(token)
        if not token:
            raise BridgeError("no Hub token: pass --token, set HF_TOKEN or log in with `hf auth login`", file=target)
        api = huggingface_hub_client(current).HfApi(endpoint=current.endpoint, token=token)
        _hub_call(lambda: api.whoami(), target, current)
    source = resolve_source(src, src_format, extra_files=("README.md",), token=token)
    source_repo = None if is_local(Path(src)) else parse_repo_id(src)
    shown = str(source_repo) if source_repo else Path(src).name  # never this machine's paths in a public card
    with _workspace(dry_run) as folder:
        conversion = conversion_module.convert(source, folder, [f.name for f in fmts], src_format=src_format)
        ckpt = conversion.checkpoint
        tiers = _tier_rows(ckpt, source, folder, fmts, text_file)
        report, unchecked = _parity(source, folder, [f for f in fmts if not f.tier], shown, timeout, on_run, backends,
                                    head=ckpt.head)
        explained = _accept_expected(report, fmts, ckpt)
        verdict, forced = _judge(report, unchecked, force, dry_run is not None)
        published = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        result = PushResult(str(target), Path(dry_run) if dry_run else None, report, verdict, forced,
                            warnings=[*conversion.warnings, *explained])
        remote: dict[str, Any] = {}
        if api is not None:
            remote = _prepare_repo(api, target, revision, private, current)
        result.files = _changes(folder, published, remote, fmts)
        card_source = _source_card(source)
        (folder / "README.md").write_text(_model_card(
            target, ckpt, conversion.written, folder, result, source, source_repo, fmts, unchecked, tiers=tiers,
            license=license or card_source.get("license"),
            base_model=base_model or (source_repo.repo_id if source_repo else card_source.get("base_model")),
            dry_run=dry_run is not None))
        if api is None:
            return result
        if not result.committed and "README.md" in remote:
            return result  # the weights are already there: a fresh card alone is no reason for a commit
        result.files["README.md"] = "updated" if "README.md" in remote else "added"
        message = commit_message or ("albert-bridge: ALBERT weights for "
                                     + ", ".join(dict.fromkeys(FRAMEWORK_NAMES[f.framework] for f in fmts))
                                     + (" (parity-checked)" if forced is None else ""))
        if forced:
            message = f"[{forced.split(':')[0]}] {message}"
        if marker:
            message = f"{message} [{marker}]"
        info = _commit(api, target, revision, create_pr, folder, result, message, current)
        result.commit_url, result.pr_url = info.commit_url, info.pr_url
    return result


def _tier_rows(ckpt, source: Path, folder: Path, fmts: list[Format], text_file) -> tuple[list, str] | None:
    """(the tier table's rows, the inputs in words) for the tiers being published, or None when there are none."""
    tiers = {f.name: f.detect(folder) for f in fmts if f.tier}
    if not tiers:
        return None
    from .deploy.tiers import measure  # imports onnx at its top

    if text_file is not None:
        texts = read_text_file(text_file)
        inputs = text_inputs(texts, source, ckpt.head, ckpt.config.max_position_embeddings)
        described = f"{len(texts)} text(s) from `{Path(text_file).name}`, tokenized by the tokenizer beside the source"
    else:
        inputs = make_inputs(ckpt.head, batch=3, seq_len=min(16, ckpt.config.max_position_embeddings),
                             vocab_size=ckpt.config.vocab_size)
        described = "random ids 3x16 (seed 0; agreement on random ids says little: pass --text-file)"
    fp32 = folder / "model.onnx" if (folder / "model.onnx").is_file() else None
    return measure(ckpt, tiers, inputs, fp32_file=fp32), described


def _hub_call(call, target: RepoSpec, current: HubSettings):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - one line naming the repo
        raise hub_error(exc, target, current) from None


@contextmanager
def _workspace(dry_run: str | os.PathLike | None) -> Iterator[Path]:
    """Where the folder is built: the dry-run directory (atomically: nothing appears on failure) or a temp dir."""
    if dry_run is not None:
        with atomic_directory(Path(dry_run)) as staging:
            yield staging
    else:
        with tempfile.TemporaryDirectory(prefix="albert-push-") as tmp:
            yield Path(tmp) / "repo"


def _accept_expected(report, fmts: list[Format], ckpt) -> list[str]:
    """A difference a format computes by design (keras-hub's MLM head eps) passes when it is the size the NumPy
    reference measures both ways (within fp32 tolerance of it), and is said so; any other size still fails."""
    lines = []
    for fmt in fmts:
        expected = fmt.expected_differences(ckpt)
        for c in report.comparisons:
            if c.b.split(":")[0] not in [b.name for b in BACKENDS.values() if b.framework == fmt.framework]:
                continue
            if c.output in expected and c.max_abs_diff is not None and not c.passed:
                size, why = expected[c.output]
                if abs(c.max_abs_diff - size) <= report.atol + report.rtol * size + 1e-2 * size:
                    c.passed = True
                    lines.append(f"{c.b} {c.output}: max |diff| {c.max_abs_diff:.2e}, the difference {why} makes "
                                 f"(NumPy reference, both ways: {size:.2e}); accepted as expected")
    return lines


def _parity(source: Path, folder: Path, fmts: list[Format], shown: str, timeout: float | None,
            on_run: Callable[[Any], None] | None = None, chosen: Sequence[str] | None = None,
            head: HeadKind | None = None):
    """SRC on our first installed backend against every published file on each backend of its framework (ours
    and transformers'): the proof is that the uploaded files themselves load with SRC's outputs. `chosen` narrows
    the backends (its first installed one runs SRC)."""
    candidates = tuple(chosen) if chosen else REFERENCE_BACKENDS
    reference = next((b for b in candidates if not BACKENDS[b].missing()), candidates[0])
    runs = [(source, reference, f"source:{reference}")]
    shown_as = {str(source): shown}
    unchecked = []
    for fmt in fmts:
        weights = fmt.detect(folder)  # its single file or shard index, beside the others in the folder
        backends = [b.name for b in BACKENDS.values() if b.framework == fmt.framework and (not chosen or b.name in chosen)]
        if not backends:
            unchecked.append(f"{weights.name} (no parity backend for {fmt.framework})")
        runs += [(weights, name, f"{name}:{weights.name}") for name in backends]
        shown_as[str(weights)] = weights.name
    options = {} if timeout is None else {"timeout": timeout}
    report = check(runs=runs, on_run=on_run, head=head, **options)  # the head written (keras-hub: pretraining -> MLM)
    for run in report.runs:  # the card shows repo file names, not this machine's temp paths
        run.checkpoint = shown_as.get(run.checkpoint, run.checkpoint)
    return report, unchecked


def _judge(report, unchecked: list[str], force: bool, dry_run: bool) -> tuple[str, str | None]:
    """(the verdict, the --force warning or None); without --force a failure or no proof at all raises."""
    source_run = report.runs[0]
    checked = [r for r in report.runs[1:] if r.ok]
    skipped = [f"{r.label} ({r.skipped})" for r in report.runs[1:] if r.skipped]
    nothing = "nothing was written" if dry_run else "nothing was published"
    if not source_run.ok:
        problem = f"the source could not run on {source_run.backend}: {source_run.skipped or source_run.error}"
        kind = "parity NOT CHECKED"
    elif not checked:
        problem = "no published file could be checked: " + "; ".join(skipped + unchecked)
        kind = "parity NOT CHECKED"
    elif not report.passed:
        problem = report.verdict().removeprefix("FAILED: ")
        kind = "parity FAILED"
    else:
        verdict = report.verdict()
        if skipped or unchecked:
            verdict += "; not run: " + "; ".join(skipped + unchecked)
        return verdict, None
    if not force:
        error = (ParityError if kind == "parity FAILED" else BridgeError)(
            f"{kind}: {problem}; {nothing} (--force publishes anyway, with a warning)")
        error.report = report  # the CLI shows the comparisons that refused the push
        raise error
    return problem, f"{kind}: published with --force: {problem}"


def _prepare_repo(api, target: RepoSpec, revision: str | None, private: bool, current: HubSettings) -> dict[str, Any]:
    """Create the repo (and the branch) when missing; the files already there, by path."""
    def prepare():
        api.create_repo(target.repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(target.repo_id, branch=revision, exist_ok=True)
        return {f.path: f for f in api.list_repo_tree(target.repo_id, revision=revision, recursive=True)
                if hasattr(f, "blob_id")}

    return _hub_call(prepare, target, current)


def _changes(folder: Path, published: list[str], remote: dict[str, Any], fmts: list[Format]) -> dict[str, str]:
    """Each published file against the repo: added, updated or unchanged (by git blob id or LFS sha256); files of
    an earlier save of a published format that this one does not write (other shards) are removed."""
    states = {}
    for name in published:
        there = remote.get(name)
        if there is None:
            states[name] = "added"
        elif there.lfs is not None:
            states[name] = "unchanged" if there.lfs.sha256 == file_sha256(folder / name) else "updated"
        else:
            states[name] = "unchanged" if there.blob_id == git_blob_id(folder / name) else "updated"
    patterns = [weight_file_pattern(fmt.marker_files[0]) for fmt in fmts]
    for name in remote:
        if name not in states and any(p.fullmatch(name) for p in patterns):
            states[name] = "removed"
    return states


def _commit(api, target: RepoSpec, revision: str | None, create_pr: bool, folder: Path, result: PushResult,
            message: str, current: HubSettings):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete  # the `hub` extra: only for a push

    operations = [CommitOperationDelete(name) if state == "removed" else
                  CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                  for name, state in result.files.items() if state != "unchanged"]
    description = "\n".join([
        f"Converted with albert-bridge; every published file was run against the source: {result.verdict}.", "",
        *([f"> **Warning** {result.forced}", ""] if result.forced else []),
        "Files: " + ", ".join(f"`{n}` {s}" for n, s in result.files.items()), "",
        result.report.to_markdown()])
    with quiet_progress():
        return _hub_call(lambda: api.create_commit(
            target.repo_id, operations, commit_message=message, commit_description=description,
            revision=revision, create_pr=create_pr), target, current)


def _hexdigest(digest: Any, path: Path) -> str:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return _hexdigest(hashlib.sha256(), Path(path))


def file_sha256(path: Path) -> str:
    """A file's sha256, read once however often a push asks (the changed-files check and the card both do)."""
    stat = Path(path).stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


def git_blob_id(path: Path) -> str:
    """What the Hub lists as a regular file's oid: git's blob sha1."""
    return _hexdigest(hashlib.sha1(f"blob {path.stat().st_size}\0".encode()), path)


# --- the model card ------------------------------------------------------------------------------------------------
def _source_card(source: Path) -> dict[str, Any]:
    """license / base_model from the card beside SRC (a Hub snapshot's README.md included), when it has one."""
    readme = (source if source.is_dir() else source.parent) / "README.md"
    if not readme.is_file():
        return {}
    from huggingface_hub import ModelCard  # the `hub` extra: only for a push

    try:
        return ModelCard.load(readme).data.to_dict()
    except Exception:  # noqa: BLE001 - an unreadable card only means we know less
        return {}


def _source_files(source: Path, format_name: str) -> list[Path]:
    """The files SRC was read from: its format's files and config beside it."""
    if source.is_file():
        return [p for p in (source, source.parent / CONFIG_NAME) if p.is_file()]
    patterns = [*get_format(format_name).hub_files, CONFIG_NAME]
    return sorted(p for p in source.rglob("*") if p.is_file() and
                  any(fnmatch(p.relative_to(source).as_posix(), pattern) for pattern in patterns))


def _model_card(target: RepoSpec, ckpt, written: dict[str, list[Path]], folder: Path, result: PushResult,
                source: Path, source_repo: RepoSpec | None, fmts: list[Format], unchecked: list[str], *,
                license: str | None, base_model: str | None, dry_run: bool,
                tiers: tuple[list, str] | None = None) -> str:
    from huggingface_hub import ModelCard, ModelCardData  # the `hub` extra: only for a push

    head = ckpt.head
    frameworks = list(dict.fromkeys(f.framework for f in fmts))
    data = ModelCardData(
        library_name="keras-hub" if frameworks == ["keras-hub"] else "transformers", pipeline_tag=PIPELINE_TAGS[head],
        license=license, base_model=base_model,
        tags=["albert", "albert-bridge", *dict.fromkeys(t for fw in frameworks for t in FRAMEWORK_TAGS[fw])])
    architecture = ARCHITECTURES[head]
    framework_of = {p.relative_to(folder).as_posix(): FRAMEWORK_NAMES[get_format(name).framework]
                    for name, paths in written.items() for p in paths}
    origin = (f"the Hub repository `{source_repo}` at commit `{source.name}`" if source_repo  # a snapshot dir
              else f"the local checkpoint `{result.report.runs[0].checkpoint}`")
    lines = [f"# {target.repo_id.split('/')[1]}", ""]
    if result.forced:
        lines += [f"> **Warning: {result.forced}.** Do not rely on these files computing what the source computes.",
                  ""]
    lines += [
        f"ALBERT `{architecture}` ({head.value} head, {ckpt.num_parameters():,} parameters) for "
        + ", ".join(FRAMEWORK_NAMES[fw] for fw in frameworks)
        + f", converted by albert-bridge from {origin} "
        f"({ckpt.report.format} format). Parity: {result.verdict}.", "",
        "## Files", "",
        "| file | for | bytes | sha256 | this commit |", "|---|---|---|---|---|",
        *(f"| `{name}` | {framework_of.get(name, 'all')} | {(folder / name).stat().st_size:,} | "
          f"`{file_sha256(folder / name)}` | {state} |" for name, state in result.files.items() if state != "removed"),
        *(f"| `{name}` | | | | removed (an earlier save) |" for name, state in result.files.items() if state == "removed"),
        "",
        ("Written by `albert-bridge push --dry-run`, as a first push to an empty repository would upload it."
         if dry_run else "Files marked unchanged were already in the repository with these bytes."), "",
        "## Converted from", "",
        f"{origin[0].upper()}{origin[1:]}, read as {get_format(ckpt.report.format).describe}:", "",
        "| file | bytes | sha256 |", "|---|---|---|",
        *(f"| `{p.relative_to(source if source.is_dir() else source.parent).as_posix()}` | {p.stat().st_size:,} | "
          f"`{file_sha256(p)}` |" for p in _source_files(source, ckpt.report.format)),
        "", "## Parity", "",
        ("The published preset ran on keras-hub's own class of its head (`keras-hub`)" if frameworks == ["keras-hub"]
         else "Every published file ran on albert-bridge's backend of its framework and on transformers' own class "
         "(`hf-*`)") + f", on the same inputs as the source on `{result.report.runs[0].backend}` (`source:*`); every "
        "output (logits, pooled output, every hidden state) was compared with the source's.",
        *([f"Not checked: {'; '.join(unchecked)}."] if unchecked else []),
        *(f"Expected by design: {line}." for line in result.warnings if line.endswith("accepted as expected")), "",
        result.report.to_markdown(), "",
        *_tier_section(tiers),
        "## How to load", "",
        *_loading(target.repo_id, architecture, frameworks, tokenizer=(
            "AlbertTokenizer" if any((folder / n).is_file() for n in (VOCAB_FILE, TOKENIZER_FILE)) else
            "AlbertTokenizerFast" if (folder / WORDPIECE_VOCAB_FILE).is_file() else None)),
    ]
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")
    if card.data.to_dict() != data.to_dict():  # the YAML reads back as written
        raise BridgeError("the model card's metadata does not read back", file=target)
    return str(card)


def _tier_section(tiers: tuple[list, str] | None) -> list[str]:
    if tiers is None:
        return []
    from .deploy.tiers import table  # imports onnx at its top

    rows, described = tiers
    return ["## Deployment tiers", "",
            "Reduced-precision copies for CPUs and phones, measured side by side in one run on this machine's CPU "
            f"against the fp32 ONNX export on ONNX Runtime (`{rows[0].file}`), on {described}. Speed is fp32 time / "
            "tier time (above 1: faster); agreement is the share of attended positions whose top-1 (top-5) "
            "prediction is fp32's, cosine the mean cosine similarity of the outputs.", "",
            *table(rows), ""]


def _loading(repo_id: str, architecture: str, frameworks: list[str], tokenizer: str | None) -> list[str]:
    """How to load the repo; `tokenizer`: our class that reads its tokenizer (the fast one reads BERT's vocab.txt)."""
    if frameworks == ["keras-hub"]:
        head = next(h for h, arch in ARCHITECTURES.items() if arch == architecture)
        cls = TASKS.get(TARGET_HEADS.get(head, head), "AlbertBackbone")
        return ["A keras-hub preset (Keras 3; `pip install keras-hub`). It has a repository of its own: keras-hub "
                "reads `config.json` at the root of what it loads, and `hf://org/name` names a whole repository (no "
                "subfolder), so it cannot share a repository with transformers' files.", "", "```python",
                "import keras_hub", f'model = keras_hub.models.{cls}.from_preset("hf://{repo_id}")', "```", "",
                "albert-bridge reads it back as a source (`albert-bridge convert " + repo_id
                + " OUT --to safetensors`).", ""]
    prefixes = {"torch": "", "tf": "TF", "flax": "Flax"}
    ours = theirs_4 = [f"{prefixes[fw]}{architecture}" for fw in frameworks if fw in prefixes]  # the same names
    lines = ["With albert-bridge (`pip install albert-bridge[hub]`), in every framework:", "", "```python",
             f"from albert_bridge import {', '.join(ours)}"]
    lines += [f'model = {name}.from_pretrained("{repo_id}")' for name in ours]
    if tokenizer:
        lines += [f"from albert_bridge import {tokenizer}", f'tokenizer = {tokenizer}.from_pretrained("{repo_id}")']
    lines += ["```", "", "With transformers 4.x (PyTorch, TensorFlow with tf-keras, Flax):", "", "```python",
              f"from transformers import {', '.join(theirs_4)}"]
    for name in theirs_4:
        if name.startswith("TF") and "torch" in frameworks:  # its TF classes would convert model.safetensors instead
            lines.append(f'model = {name}.from_pretrained("{repo_id}", use_safetensors=False)  # reads tf_model.h5')
        else:
            lines.append(f'model = {name}.from_pretrained("{repo_id}")')
    if tokenizer:
        lines += ["from transformers import AutoTokenizer", f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")']
    lines += ["```", ""]
    if "torch" in frameworks:
        lines += ["With transformers 5 (PyTorch only: its TensorFlow and Flax classes ended with 4.x):", "", "```python",
                  f"from transformers import {architecture}", f'model = {architecture}.from_pretrained("{repo_id}")',
                  "```", ""]
    if "onnx" in frameworks:
        lines += ["ONNX Runtime:", "", "```python", "import onnxruntime", "from huggingface_hub import hf_hub_download",
                  f'session = onnxruntime.InferenceSession(hf_hub_download("{repo_id}", "model.onnx"))', "```", ""]
    return lines
