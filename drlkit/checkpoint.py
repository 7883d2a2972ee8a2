"""Safetensors model files with a self-describing header (DESIGN §4). No pickle anywhere.

A drlkit file holds the model's tensors (fp32 or fp16) and string metadata: `format` ("drlkit"),
`format_version`, and JSON for `config`, `preprocessing`, `training`, `data`, `budget`,
`recommended_t`, `metrics`, `num_params`, `description`, and optionally `reads`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from drlkit.atomic import atomic_path
from drlkit.config import ModelConfig, upgrade_config
from drlkit.model import DRLModel

FORMAT = "drlkit"
FORMAT_VERSION = 3  # 3: config has `z_conditioning`; 2: `objective` (baselines); 1 is read as DRL
CARD_KEYS = ("description", "preprocessing", "training", "data", "budget", "recommended_t",
             "metrics", "num_params")
# Card keys a file may hold (JSON too): `reads`, each read's options and measured metrics and
# which read is best (drlkit.reads; issue 39). Older files have none: the defaults apply.
# `classifier`: a DRLClassifier file (drlkit.classifier), whose head's tensors are the ones named
# `classifier.*`; `load_model` sets them aside, so the file still loads as a model.
OPTIONAL_CARD_KEYS = ("reads", "classifier")
HEAD_PREFIX = "classifier."


class CheckpointError(ValueError):
    """A model file is missing, corrupt, tampered with, not a drlkit file, or too new."""


def count_params(model: DRLModel) -> dict[str, int]:
    """{"encoder": n, <the second network: score_net | decoder | projector>: m, "total": n + m}."""
    enc = sum(p.numel() for p in model.encoder.parameters())
    net = sum(p.numel() for p in getattr(model, model.head_name).parameters())
    return {"encoder": enc, model.head_name: net, "total": enc + net}


def atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    """Write to a temporary name beside `path`, then rename: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes as stored (the `tensors_sha256`
    metadata field: a flipped bit anywhere in the weights is caught on load)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def encoder_digest(model: DRLModel) -> str:
    """sha256 of what `encode` computes with: the config and the encoder's tensors. The card and
    the second network (score net, decoder, projector) change no code, so they are left out, and
    so is `z_conditioning`, a score-net field added in format 3 (digests of earlier reports stay
    valid)."""
    fields = {k: v for k, v in model.config.to_dict().items() if k != "z_conditioning"}
    config = json.dumps(fields, sort_keys=True).encode()
    return hashlib.sha256(config + tensors_digest(model.encoder.state_dict()).encode()).hexdigest()


def save_model(model: DRLModel, path: str | os.PathLike, card: dict[str, Any],
               dtype: torch.dtype = torch.float32,
               head: dict[str, torch.Tensor] | None = None) -> None:
    """Export `model`'s weights and `card` (which must hold every key in CARD_KEYS but num_params);
    `head`: a classifier's own tensors, stored as they are under `classifier.<name>` (the card
    must then hold `classifier`)."""
    if (head is not None) != ("classifier" in card):
        raise ValueError("a classifier head and the card's `classifier` entry go together")
    card = {**card, "num_params": count_params(model)}
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise ValueError(f"card is missing {missing}")
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "config": json.dumps(model.config.to_dict())}
    metadata.update({k: json.dumps(card[k]) for k in CARD_KEYS})
    metadata.update({k: json.dumps(card[k]) for k in OPTIONAL_CARD_KEYS if k in card})
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    tensors.update({HEAD_PREFIX + k: v.detach().cpu().contiguous() for k, v in (head or {}).items()})
    metadata["tensors_sha256"] = tensors_digest(tensors)
    atomic_save(tensors, metadata, Path(path))


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """Parse and validate a drlkit file's header without loading tensors.

    Returns the metadata with JSON values decoded (and `config` as a dict, in today's format even
    for older files; `format_version` is the file's own).
    Raises CheckpointError with a one-line message naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file ({size} bytes, too short)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise CheckpointError(f"{path}: not a safetensors file, or truncated "
                                  f"(header claims {n} bytes, file has {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CheckpointError(f"{path}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    end = max((int(v["data_offsets"][1]) for v in header.values()
               if isinstance(v, dict) and "data_offsets" in v), default=0)
    if 8 + n + end != size:
        raise CheckpointError(f"{path}: truncated or padded: tensors need {8 + n + end} bytes, "
                              f"file has {size}")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a safetensors file, but not a drlkit model "
                              "(no format=drlkit in its metadata)")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path}: invalid format_version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this drlkit reads "
                              f"({FORMAT_VERSION}); upgrade drlkit (pip install -U drlkit)")
    try:
        out = {k: (json.loads(v) if k in (*CARD_KEYS, *OPTIONAL_CARD_KEYS, "config") else v)
               for k, v in meta.items()}
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({e})") from None
    missing = [k for k in ("config", *CARD_KEYS) if k not in out]
    if missing:
        raise CheckpointError(f"{path}: drlkit metadata is missing {missing}")
    if version < FORMAT_VERSION and isinstance(out["config"], dict):  # fields added since
        out["config"] = upgrade_config(out["config"])
    return out


def load_model(path: str | os.PathLike, device: str | torch.device | None = None,
               head: dict[str, torch.Tensor] | None = None) -> DRLModel:
    """Rebuild a DRLModel from a drlkit file: config from the header, strict state-dict load.
    A classifier file's head tensors (`classifier.*`) are set aside, into `head` if given (their
    names without the prefix).

    Raises:
        CheckpointError: the file is corrupt, truncated, not a drlkit file, or too new.
        ValueError: `device` is not a device name, or not available here (e.g. CUDA on a CPU
            build of PyTorch).
    """
    meta = read_header(path)
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid model config: {e}") from None
    try:
        tensors = load_file(str(path))
    except Exception as e:  # safetensors raises its own error type for corrupt payloads
        raise CheckpointError(f"{path}: cannot read tensors: {e}") from None
    expected = meta.get("tensors_sha256")
    if expected is not None and tensors_digest(tensors) != expected:
        raise CheckpointError(f"{path}: the weights do not match the checksum in its header "
                              "(tensors_sha256): the file is corrupt")
    card = {k: v for k, v in meta.items()
            if k not in ("config", "format", "format_version", "tensors_sha256")}
    if "classifier" in card:
        for k in [k for k in tensors if k.startswith(HEAD_PREFIX)]:
            v = tensors.pop(k)
            if head is not None:
                head[k[len(HEAD_PREFIX):]] = v
    model = DRLModel(config, card=card)
    try:
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "state dict mismatch"
        raise CheckpointError(f"{path}: weights do not match its config: {first}") from None
    from drlkit.distributed import default_device

    return model.to(default_device(device=device)).eval()


def report_card(card: dict[str, Any]) -> dict[str, Any]:
    """The part of a model's card that an evaluation report records (its budget columns come
    from it, the recipe study's columns from the training options)."""
    return {k: card.get(k) for k in ("description", "data", "budget", "training")}


def update_card(path: str | os.PathLike, **fields: Any) -> None:
    """Rewrite card fields (e.g. metrics, recommended_t, description) of a drlkit file in place;
    the tensors are unchanged. Shipped files must then get their new sha256 in the registry."""
    settable = (set(CARD_KEYS) | set(OPTIONAL_CARD_KEYS)) - {"num_params"}
    if set(fields) - settable:
        raise ValueError(f"cannot set {sorted(set(fields) - settable)}; settable: {sorted(settable)}")
    meta = read_header(path)
    raw = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
           "config": json.dumps(meta["config"])}
    raw.update({k: json.dumps(fields.get(k, meta[k])) for k in CARD_KEYS})
    raw.update({k: json.dumps(fields[k] if k in fields else meta[k]) for k in OPTIONAL_CARD_KEYS
                if k in fields or k in meta})
    tensors = load_file(str(path))
    digest = tensors_digest(tensors)
    if meta.get("tensors_sha256", digest) != digest:
        raise CheckpointError(f"{path}: the weights do not match the checksum in its header "
                              "(tensors_sha256): the file is corrupt")
    raw["tensors_sha256"] = digest
    atomic_save(tensors, raw, Path(path))
