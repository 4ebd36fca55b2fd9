"""`albert-bridge inspect`: what a checkpoint holds, as a dict (for --json) and as text."""

from __future__ import annotations

import math
from typing import Any

from .config import unknown_keys
from .errors import BridgeError
from .formats import get_format, load
from .schema import ARCHITECTURES
from .sources import resolve_source
from .tokenization.files import describe_tokenizer
from .tokenizer_files import CONFIG_FILE, TOKENIZER_FILE, VOCAB_FILE, WORDPIECE_VOCAB_FILE


def describe(src: str, src_format: str | None = None, head: str | None = None, strict: bool = False
             ) -> dict[str, Any]:
    """What `inspect` shows; `strict`: unknown config keys are problems, not warnings."""
    ckpt = load(resolve_source(src, src_format), src_format, head)
    tier = get_format(ckpt.report.format).tier  # a deployment tier: config and head, no canonical tensors
    c = ckpt.config
    groups = []
    for g in range(c.num_hidden_groups):
        prefix = f"encoder.group.{g}."
        params = sum(math.prod(t.shape) for key, t in ckpt.tensors.items() if key.startswith(prefix))
        layers = [i for i in range(c.num_hidden_layers) if c.group_of_layer(i) == g]
        groups.append({"group": g, "layers": layers, "inner_layers": c.inner_group_num, "parameters": params})
    info: dict[str, Any] = {
        "source": ckpt.report.source,
        "format": ckpt.report.format,
        "layout": ckpt.report.layout,
        "inferred": ckpt.report.inferred,
        "head": ckpt.head.value,
        "architecture": ARCHITECTURES[ckpt.head],
        "config": {
            "vocab_size": c.vocab_size, "embedding_size": c.embedding_size, "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size, "num_attention_heads": c.num_attention_heads,
            "num_hidden_layers": c.num_hidden_layers, "num_hidden_groups": c.num_hidden_groups,
            "inner_group_num": c.inner_group_num, "hidden_act": c.hidden_act,
            "max_position_embeddings": c.max_position_embeddings, "num_labels": c.num_labels,
        },
        "parameters": ckpt.num_parameters(),
        "bytes": ckpt.nbytes(),
        "dtypes": ckpt.dtypes(),
        "groups": groups,
        "tensors_mapped": ckpt.report.consumed,
        "skipped": ckpt.report.skipped,
        "warnings": ckpt.report.warnings + ([
            f"a deployment tier ({ckpt.report.format}): its weights are quantized or cast inside the file and are not "
            "listed; run it with `parity --metric agreement`"] if tier else []),
        "problems": [] if tier else [{"tensor": p.tensor, "problem": p.message} for p in ckpt.problems()],
        "tier": tier,
        "assets": sorted(ckpt.assets),
        "tokenizer": _tokenizer(ckpt.assets),
    }
    tok = info["tokenizer"]
    info["tokenizer_kind"] = "none" if tok is None else tok.get("kind", "unreadable")
    if strict:
        info["problems"] += [{"tensor": "config", "problem": f"unknown key {key!r}{hint} (refused: --strict)"}
                             for key, hint in unknown_keys(c).items()]
    tokens = (info["tokenizer"] or {}).get("vocab_size")
    if tokens is not None and tokens != c.vocab_size:
        consequence = (f": ids {c.vocab_size} and up have no embedding (an IndexError in the model)"
                       if tokens > c.vocab_size else f": {c.vocab_size - tokens} embeddings no token reaches")
        info["warnings"] = [*info["warnings"], f"the tokenizer's vocabulary ({tokens}) differs from the model's "
                                               f"vocab_size ({c.vocab_size}){consequence}"]
    return info


def _tokenizer(assets: dict) -> dict[str, Any] | None:
    model = assets.get(VOCAB_FILE) or assets.get(TOKENIZER_FILE) or assets.get(WORDPIECE_VOCAB_FILE)
    if model is None:
        return None
    # The directory, when the tokenizer's settings (tokenizer_config.json) sit beside the model.
    target = model.parent if CONFIG_FILE in assets else model
    try:
        return describe_tokenizer(target)
    except BridgeError as exc:
        return {"error": exc.one_line()}


def render_text(info: dict[str, Any], verbose: int = 0) -> str:
    c = info["config"]
    lines = [
        f"source      {info['source']}",
        f"format      {info['format']}",
        f"layout      {info['layout']}",
        *(f"inferred    {line}" for line in info["inferred"]),
        f"head        {info['head']} ({info['architecture']})",
        f"config      V={c['vocab_size']} E={c['embedding_size']} H={c['hidden_size']} I={c['intermediate_size']} "
        f"heads={c['num_attention_heads']} layers={c['num_hidden_layers']} groups={c['num_hidden_groups']} "
        f"inner={c['inner_group_num']} act={c['hidden_act']} labels={c['num_labels']}",
        f"parameters  {info['parameters']:,} ({info['bytes'] / 2**20:.2f} MiB)",
        "dtypes      " + ", ".join(f"{k}: {v}" for k, v in sorted(info["dtypes"].items())),
        "groups      group  layers            inner  parameters",
    ]
    for g in info["groups"]:
        layers = ",".join(map(str, g["layers"])) or "-"
        lines.append(f"            {g['group']:<6} {layers:<17} {g['inner_layers']:<6} {g['parameters']:,}")
    lines.append(f"tensors     {info['tensors_mapped']} mapped, {len(info['skipped'])} skipped")
    reasons: dict[str, int] = {}
    for why in info["skipped"].values():
        reasons[why] = reasons.get(why, 0) + 1
    lines += [f"  skipped   {n} x {why}" for why, n in sorted(reasons.items())]
    if verbose:
        lines += [f"  skipped   {name}: {why}" for name, why in info["skipped"].items()]
    lines += [f"warning     {w}" for w in info["warnings"]]
    if info["problems"]:
        lines += [f"PROBLEM     {p['tensor']}: {p['problem']}" for p in info["problems"]]
    elif not info.get("tier"):
        lines.append("validation  ok: every tensor present with the shape the config implies")
    if info["assets"]:
        lines.append("assets      " + ", ".join(info["assets"]))
    tok = info["tokenizer"]
    if tok is None:
        lines.append("tokenizer   none")
    elif "error" in tok:
        lines.append(f"tokenizer   unreadable: {tok['error']}")
    else:
        pairs = dict(zip(tok["special_tokens"].values(), tok["special_token_ids"].values()))
        specials = " ".join(f"{token}={i}" for token, i in sorted(pairs.items(), key=lambda p: (p[1] is None, p[1])))
        use = " (BertTokenizer)" if tok["kind"] == "wordpiece" else ""
        lines.append(f"tokenizer   {tok['kind']}{use}, vocab {tok['vocab_size']}, do_lower_case={tok['do_lower_case']}, "
                     f"keep_accents={tok['keep_accents']}; {specials}")
        lines.append(f"            read from {tok['source']}")
        lines += [f"            not read: {name} ({why})" for name, why in tok["not_read"].items()]
    return "\n".join(lines)
