"""Original google-research ALBERT checkpoints (TF1 tensor bundles), read and written without TensorFlow.

Sources accepted by `load`:
- a directory with `albert_config.json` and `model.ckpt-*` files. With several checkpoints the one the `checkpoint`
  file names wins, else the highest step (names without a step only when alone); the choice goes to the warnings;
- a checkpoint prefix (`dir/model.ckpt-best`) or any of its files (`.index`, `.data-*`, `.meta`);
- a released `albert_*.tar.gz`, read as a stream and never unpacked to disk. A gzip stream cannot seek, so the
  archive is decompressed twice: once at load (keeping only the small members - config, index, `checkpoint`,
  tokenizer model - in memory), and once when the first tensor is read, when every model tensor is read in offset
  order and kept in memory for the checkpoint's lifetime (optimizer slots are skipped over, never held). Peak memory
  is therefore the model's size (about 0.9 GB for xxlarge); the tokenizer model goes to a temp file that lives as
  long as the checkpoint's tensors;
- a TF-Hub module (`variables/variables.*`, `assets/albert_config.json`, `assets/30k-clean.model`).
Names under `module/` (a graph that wrapped a hub module) are read as if the prefix were absent.

Which names a bundle uses (google-research, Google zh with E = H, brightmart/albert_zh, ...) is decided by the
table of families in tf1_layouts.py; the family's mapping table reads it. The config beside it is albert_config.json,
else the one albert_config_*.json (brightmart names its configs by size). Sizes the config omits are taken from the
tensors (schema.config_from_tensors, one `inferred` line each); sizes it states must match them.

Head inference: `cls/seq_relationship` -> pretraining; `cls/predictions` alone -> masked-lm; `cls/squad` ->
question-answering; top-level `output_weights` [C, H] -> sequence-classification, except [1, H], which run_race.py
and a 1-label STS-B regression both write: it is read as multiple-choice (RACE) unless `head` says
sequence-classification. `architectures` in albert_config.json (written by `save`) decides before the tensors do.
The original code always builds the pooler; heads without one in transformers (masked-lm, QA) drop it (reported).

`save` writes what a release holds, `model.ckpt-best.{index,data-00000-of-00001}` and `albert_config.json` in the
original form, plus a `checkpoint` file (releases have none, and `tf.train.latest_checkpoint` needs one) and the
tokenizer as `30k-clean.model` (a BERT `vocab.txt` beside the checkpoint, as the Chinese releases ship, is read and
written under that name). albert_config.json gets only the HF fields the original form cannot express
(`architectures`, labels, ...); the original `AlbertConfig.from_dict` copies every key, so it ignores them.
Token classification has no name in the original code: it is written as `cls/token_classification/output_weights`,
a name no original script restores by mistake. The E->H projection is omitted when E == H, as the original does.
One data shard only (`max_shard_size` is ignored), no `global_step` and no `.meta` graph.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import ORIGINAL_CONFIG_NAME, AlbertConfig, parse_json
from ..errors import BridgeError, ConfigMissing
from ..schema import ARCHITECTURES, HeadKind, config_from_tensors, expected_tensors, head_from_architecture, infer_head
from ..tokenizer_files import WORDPIECE_VOCAB_FILE
from .tf1_layouts import GOOGLE_MAPPING, GOOGLE_TOKEN_MAPPING, Layout, detect_layout, unknown_layout
from .tar_stream import TarStream, is_archive
from .tf_bundle import TABLE_MAGIC, BundleReader, data_shard_path, write_bundle

PREFIX = "model.ckpt-best"  # the released name
DT_STRING = 7
CHECKPOINT_STATE = "checkpoint"
TOKENIZER_NAME = "30k-clean.model"
MODULE_PREFIX = "module/"

# The mapping tables of every TF1-bundle layout, and the table that tells them apart, live in tf1_layouts.
MAPPING, TOKEN_MAPPING = GOOGLE_MAPPING, GOOGLE_TOKEN_MAPPING

_INDEX = re.compile(r"(.*)\.index\Z")
_PREFIX_FILE = re.compile(r"(.*)\.(index|meta|data-\d{5}-of-\d{5})\Z")
_STEP = re.compile(r"-(\d+)\Z")


# ---- where the bundle, config and tokenizer come from --------------------------------------------------------------

@dataclass
class _Source:
    """A resolved source: a bundle reader plus the files that travel with it."""

    reader: BundleReader
    where: str                                  # for messages: the prefix, or archive:member prefix
    config: Callable[[], AlbertConfig] | None   # None: no albert_config.json found
    assets: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tensor_loader: Callable[[str], Callable[[], np.ndarray]] | None = None  # None: read from `reader` directly
    keepalive: object = None                    # owns temp files; referenced by every tensor


def _choose(prefixes: list[str], state: str | None, where: object) -> tuple[str, list[str]]:
    """The checkpoint to read among several prefixes (names, same folder) and a note saying why."""
    if state is not None:
        match = re.search(r'^\s*model_checkpoint_path:\s*"(.*)"\s*$', state, re.MULTILINE)
        if not match:
            raise BridgeError("`checkpoint` file has no model_checkpoint_path", file=where)
        named = PurePosixPath(match.group(1).replace("\\", "/")).name  # absolute paths go stale when moved
        if named not in prefixes:
            raise BridgeError(f"the `checkpoint` file names {named}, which is missing here", file=where)
        notes = [f"{where}: several checkpoints; using {named}, named by the `checkpoint` file"] if len(prefixes) > 1 else []
        return named, notes
    if len(prefixes) == 1:
        return prefixes[0], []
    stepped = [p for p in prefixes if _STEP.search(p)]
    if not stepped:
        raise BridgeError(f"several checkpoints ({', '.join(sorted(prefixes))}) and no `checkpoint` file: "
                          "pass the prefix of the one to read", file=where)
    chosen = max(stepped, key=lambda p: int(_STEP.search(p).group(1)))
    others = ", ".join(sorted(p for p in prefixes if p != chosen))
    return chosen, [f"{where}: several checkpoints; using {chosen}, the highest step (also here: {others})"]


def _pick_model(names: list[str]) -> str | None:
    """The SentencePiece model among a folder's file names: the released name first, then any single *.model."""
    for preferred in (TOKENIZER_NAME, "spiece.model"):
        if preferred in names:
            return preferred
    models = [n for n in names if n.endswith(".model")]
    return models[0] if len(models) == 1 else None


def _is_bundle_index(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(-8, os.SEEK_END)
            return f.read(8) == struct.pack("<Q", TABLE_MAGIC)
    except OSError:
        return False


def _config_in(folder: Path) -> Path | None:
    """albert_config.json, else the one albert_config_*.json (brightmart's releases name theirs by size)."""
    if (folder / ORIGINAL_CONFIG_NAME).is_file():
        return folder / ORIGINAL_CONFIG_NAME
    named = sorted(folder.glob("albert_config_*.json")) if folder.is_dir() else []
    return named[0] if len(named) == 1 else None


def _config_from_file(path: Path) -> Callable[[], AlbertConfig]:
    return lambda: AlbertConfig.from_json_file(path)


def _local_source(prefix: Path, notes: list[str]) -> _Source:
    """A prefix on disk; config and tokenizer beside it, or in a hub module's `assets/`."""
    folder = prefix.parent
    search = [folder, folder.parent / "assets"] if folder.name == "variables" else [folder]
    config = next((_config_from_file(found) for d in search if (found := _config_in(d))), None)
    assets = {}
    for d in search:
        model = _pick_model([p.name for p in d.iterdir() if p.is_file()]) if d.is_dir() else None
        if model:
            assets["spiece.model"] = d / model
            break
    # The Chinese releases' BERT vocabulary, under the name it keeps everywhere.
    vocab = next((d / WORDPIECE_VOCAB_FILE for d in search if (d / WORDPIECE_VOCAB_FILE).is_file()), None)
    if vocab is not None:
        assets[WORDPIECE_VOCAB_FILE] = vocab
    return _Source(BundleReader(prefix), str(prefix), config, assets, notes)


def _resolve_local(path: Path) -> _Source:
    if path.is_dir():
        if (path / "variables" / "variables.index").is_file():  # TF-Hub module
            return _local_source(path / "variables" / "variables", [])
        prefixes = [m.group(1) for p in path.iterdir() if (m := _INDEX.match(p.name)) and p.is_file()]
        if not prefixes:
            raise BridgeError("no TF checkpoint (*.index) here", file=path)
        state = path / CHECKPOINT_STATE
        chosen, notes = _choose(prefixes, state.read_text() if state.is_file() else None, path)
        return _local_source(path / chosen, notes)
    match = _PREFIX_FILE.match(path.name)
    prefix = path.with_name(match.group(1)) if match else path
    if not Path(f"{prefix}.index").is_file():
        raise BridgeError("no TF checkpoint index (.index) for this prefix", file=path)
    return _local_source(prefix, [])


class _ArchiveTensors:
    """Tensors of a bundle inside an archive: all wanted ones are read in one streaming pass, on first use."""

    def __init__(self, archive: TarStream, index: bytes, member_prefix: str):
        self.archive, self.index, self.member_prefix = archive, index, member_prefix
        self.wanted: set[str] = set()
        self._cache: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def loader(self, name: str) -> Callable[[], np.ndarray]:
        self.wanted.add(name)
        return lambda: self._get(name)

    def _get(self, name: str) -> np.ndarray:
        with self._lock:
            if self._cache is None:
                self._cache = self._read_all()
            return self._cache[name]

    def _read_all(self) -> dict[str, np.ndarray]:
        where = f"{self.archive.path}:{self.member_prefix}"
        layout = BundleReader.from_sources(self.index, lambda i: io.BytesIO(), name=where)
        shards: dict[str, list[str]] = {}
        for name in self.wanted:
            entry = layout.entry(name)
            member = data_shard_path(self.member_prefix, entry.shard_id, layout.num_shards)
            shards.setdefault(member, []).append(name)
        out: dict[str, np.ndarray] = {}
        for member, stream in self.archive.stream_members(set(shards)):
            names = shards.pop(member)
            reader = BundleReader.from_sources(self.index, lambda i, s=stream: s, name=where)
            for name in sorted(names, key=lambda n: reader.entry(n).offset):
                out[name] = self.archive.guard(lambda n=name, r=reader: r.read(n) if r.entry(n).dtype != DT_STRING
                                               else r.read_strings(n), tensor=name)  # strings: TF2's object graph
        if shards:
            raise BridgeError(f"data shard {min(shards)} is missing from the archive", file=self.archive.path)
        return out


def _small_member(name: str) -> bool:
    """The members kept in memory at load: index files, configs, the `checkpoint` file and tokenizer files."""
    base = PurePosixPath(name).name
    return base.endswith((".index", ".model")) or base in (ORIGINAL_CONFIG_NAME, CHECKPOINT_STATE, WORDPIECE_VOCAB_FILE)


def _archive_source(path: Path) -> _Source:
    archive = TarStream(path, keep=_small_member)
    folders: dict[str, list[str]] = {}
    for name in archive.small:
        if m := _INDEX.match(name):
            parent, base = str(PurePosixPath(m.group(1)).parent), PurePosixPath(m.group(1)).name
            folders.setdefault(parent, []).append(base)
    if not folders:
        raise BridgeError("no TF checkpoint (*.index) in this archive", file=path)
    if len(folders) > 1:
        raise BridgeError(f"checkpoints in several folders of the archive ({', '.join(sorted(folders))})", file=path)
    folder, prefixes = next(iter(folders.items()))

    def member(*parts: str) -> str:
        return str(PurePosixPath(folder, *parts))  # PurePosixPath(".", "x") is "x"

    state = archive.small.get(member(CHECKPOINT_STATE))
    chosen, notes = _choose(prefixes, None if state is None else state.decode("utf-8", "replace"), path)
    search = [folder, str(PurePosixPath(folder).parent / "assets")] if PurePosixPath(folder).name == "variables" \
        else [folder]
    config = None
    for d in search:
        name = str(PurePosixPath(d, ORIGINAL_CONFIG_NAME))
        if name in archive.small:
            config = (lambda raw=archive.small[name], w=f"{path}:{name}":  # noqa: E731
                      AlbertConfig.from_original_dict(parse_json(raw, w), w))
            break
    keepalive, assets = None, {}
    for d in search:
        in_folder = {PurePosixPath(n).name: n for n in archive.small if str(PurePosixPath(n).parent) == d}
        model = _pick_model(list(in_folder))
        if model:
            keepalive = _TempDir()
            target = keepalive.path / TOKENIZER_NAME
            target.write_bytes(archive.small[in_folder[model]])
            assets["spiece.model"] = target
            break
    for d in search:
        vocab = archive.small.get(str(PurePosixPath(d, WORDPIECE_VOCAB_FILE)))
        if vocab is not None:
            keepalive = keepalive or _TempDir()
            assets[WORDPIECE_VOCAB_FILE] = keepalive.path / WORDPIECE_VOCAB_FILE
            assets[WORDPIECE_VOCAB_FILE].write_bytes(vocab)
            break
    member_prefix = member(chosen)
    index = archive.small[member_prefix + ".index"]
    tensors = _ArchiveTensors(archive, index, member_prefix)
    reader = BundleReader.from_sources(index, lambda i: io.BytesIO(), name=f"{path}:{member_prefix}")
    return _Source(reader, f"{path}:{member_prefix}", config, assets, notes, tensors.loader, keepalive)


class _TempDir:
    """A temp directory removed when the last tensor holding it goes (or at exit)."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="albert-bridge-tf1-"))
        weakref.finalize(self, shutil.rmtree, self.path, True)


# ---- detect / load -------------------------------------------------------------------------------------------------

def detect(path: Path) -> Path | None:
    path = Path(path)
    if is_archive(path):
        return path
    if path.is_dir():
        if _is_bundle_index(path / "variables" / "variables.index"):
            return path
        return path if any(_INDEX.match(p.name) and _is_bundle_index(p) for p in path.iterdir()) else None
    match = _PREFIX_FILE.match(path.name)
    prefix = path.with_name(match.group(1)) if match else path
    return path if _is_bundle_index(Path(f"{prefix}.index")) else None


def _infer_head(tensors: dict[str, LazyTensor], native_names: set[str], report: LoadReport) -> HeadKind:
    """The schema's inference, except for classifiers: the original always has a pooler, so its name decides."""
    head = infer_head(set(tensors))
    if head not in (HeadKind.SEQUENCE_CLASSIFICATION, HeadKind.TOKEN_CLASSIFICATION):
        return head
    if any(n.startswith("cls/token_classification/") for n in native_names):
        return HeadKind.TOKEN_CLASSIFICATION
    if tensors["head.classifier.kernel"].shape[-1] == 1:
        report.warnings.append(f"{report.source}: output_weights [1, H] read as RACE multiple choice; pass "
                               "--head sequence-classification for a 1-label regression head (STS-B)")
        return HeadKind.MULTIPLE_CHOICE
    return HeadKind.SEQUENCE_CLASSIFICATION


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    path = Path(path)
    source = _archive_source(path) if is_archive(path) else _resolve_local(path)
    reader = source.reader
    report = LoadReport(format="tf1", source=source.where, warnings=list(source.notes))
    shorts: dict[str, str] = {}  # name without a `module/` prefix -> name in the bundle
    for name in reader.keys():
        short = name.removeprefix(MODULE_PREFIX)
        if short in shorts:
            raise BridgeError(f"present both with and without the {MODULE_PREFIX!r} prefix", file=source.where,
                              tensor=short)
        shorts[short] = name
    if config is None and source.config is not None:
        config = source.config()
    layout = _layout(shorts, reader, config, source.where)
    if layout.loader is not None:
        return layout.loader(source, head, config)
    report.layout = layout.family + (" in a TF-Hub module" if source.where.endswith("variables/variables") else "")

    native: dict[str, LazyTensor] = {}
    for short, name in shorts.items():
        dtype, shape, _ = reader.info(name)
        if dtype is None or not layout.knows(short):
            # Not a model tensor: skipped on purpose or unknown, never read (and may be of a dtype we cannot read).
            layout.mapping.account_unmapped(name, report, lookup=short)
            continue
        load_fn = source.tensor_loader(name) if source.tensor_loader else (lambda n=name: reader.read(n))
        if source.keepalive is not None:
            load_fn = (lambda f=load_fn, keep=source.keepalive: f())  # noqa: E731 - the temp dir lives while tensors do
        native[short] = LazyTensor(tuple(shape), dtype, load_fn, f"{source.where}: {name}")
    shapes = {short: t.shape for short, t in native.items()}
    if layout.fold is not None:
        native = layout.fold(native)
        report.consumed += len(layout.folded)  # used, in the product the fold made
    tensors = layout.mapping.to_canonical(native, report)

    if config is None:
        raise ConfigMissing(f"no {ORIGINAL_CONFIG_NAME} beside the checkpoint", file=source.where)
    if layout.adapt is not None:
        config, notes = _guarded(lambda: layout.adapt(config, shapes), source.where)
        report.inferred += notes

    found = next((h for h in map(head_from_architecture, config.architectures or ()) if h), None)
    head = head or found or _infer_head(tensors, set(native), report)
    # The bundle's name (a `module/` prefix kept) and shape of each canonical tensor, for the messages.
    origins = {found[0]: (shorts[short], t.shape) for short, t in native.items()
               if (found := layout.mapping.canonical_name(short))}
    config, notes = config_from_tensors(config, {k: t.shape for k, t in tensors.items()}, head, origins.__getitem__,
                                        source.where)
    report.inferred += notes
    config = config.updated(architectures=None)  # a copy; the head lives in Checkpoint.head, writers name it again

    if config.embedding_size == config.hidden_size:
        for key in ("encoder.projection.kernel", "encoder.projection.bias"):
            if tensors.pop(key, None) is not None:
                native_name = layout.mapping.native_name(key, HeadKind.BASE)[0]
                report.consumed -= 1
                report.skip(native_name, "unused: the original code has no E->H projection when E == H")
                report.warnings.append(f"{source.where}: {native_name} present although E == H; ignored, as the "
                                       "original code ignores it")
    keep = expected_tensors(config, head)
    for key in sorted(set(tensors) - set(keep)):
        tensors.pop(key)
        report.skip(key, f"not part of head {head.value}")
    return Checkpoint(config, head, tensors, report, source.assets)


def _layout(shorts: dict[str, str], reader: BundleReader, config: AlbertConfig | None, where: str) -> Layout:
    """The family of names the bundle uses (LAYOUTS); a refused or unknown one is a one-line error."""
    layout = detect_layout(list(shorts), config)
    if layout is None:
        raise BridgeError(unknown_layout({s: tuple(reader.info(n)[1]) for s, n in shorts.items()}), file=where)
    if layout.mapping is None and layout.loader is None:
        hit = next(n for n in shorts if any(re.search(p, n) for p in layout.present))
        raise BridgeError(f"this is {layout.refused}", file=where, tensor=hit)
    return layout


def _guarded(call: Callable, where: str):
    """A layout's config step: its errors name the checkpoint."""
    try:
        return call()
    except BridgeError as exc:
        raise BridgeError(exc.message, file=where, tensor=exc.tensor) from None


# ---- save ----------------------------------------------------------------------------------------------------------

def original_config(config: AlbertConfig, head: HeadKind) -> dict:
    """albert_config.json: the original keys, then only the HF fields the original form cannot express."""
    data = config.to_original_dict()
    plain = AlbertConfig.from_original_dict(data).to_dict()
    for key, value in config.to_dict().items():
        if key not in data and key != "architectures" and plain.get(key) != value:
            data[key] = value
    data["architectures"] = [ARCHITECTURES[head]]
    return data


def _without_identity_projection(ckpt: Checkpoint) -> dict[str, LazyTensor]:
    """The original code has no projection when E == H: omit an identity one, refuse any other."""
    tensors = dict(ckpt.tensors)
    if ckpt.config.embedding_size != ckpt.config.hidden_size or "encoder.projection.kernel" not in tensors:
        return tensors
    kernel = tensors.pop("encoder.projection.kernel").read().astype(np.float32)
    bias = tensors.pop("encoder.projection.bias", None)
    bias = np.zeros(1, np.float32) if bias is None else bias.read().astype(np.float32)
    if not (np.array_equal(kernel, np.eye(len(kernel), dtype=np.float32)) and not bias.any()):
        raise BridgeError("embedding_size == hidden_size but the E->H projection is not the identity; the original "
                          "code has no projection then, so a TF1 checkpoint cannot express it",
                          tensor="encoder.projection.kernel")
    return tensors


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    directory = Path(directory)
    config_path = directory / ORIGINAL_CONFIG_NAME
    config_text = json.dumps(original_config(ckpt.config, ckpt.head), indent=2) + "\n"  # refuses exact-erf gelu
    mapping = TOKEN_MAPPING if ckpt.head is HeadKind.TOKEN_CLASSIFICATION else MAPPING
    native = mapping.to_native(_without_identity_projection(ckpt), ckpt.head)
    prefix = directory / PREFIX
    write_bundle(prefix, {name: tensor.read for name, tensor in native.items()})  # one tensor in memory at a time
    config_path.write_text(config_text)
    state = directory / CHECKPOINT_STATE
    state.write_text(f'model_checkpoint_path: "{PREFIX}"\nall_model_checkpoint_paths: "{PREFIX}"\n')
    written = [Path(f"{prefix}.index"), Path(data_shard_path(prefix, 0, 1)), config_path, state]
    if "spiece.model" in ckpt.assets:
        shutil.copyfile(ckpt.assets["spiece.model"], directory / TOKENIZER_NAME)
        written.append(directory / TOKENIZER_NAME)
    if WORDPIECE_VOCAB_FILE in ckpt.assets:
        shutil.copyfile(ckpt.assets[WORDPIECE_VOCAB_FILE], directory / WORDPIECE_VOCAB_FILE)
        written.append(directory / WORDPIECE_VOCAB_FILE)
    return written
