"""Safe checkpoints: one safetensors file holding arrays plus JSON metadata in its header.

No pickle anywhere: a checkpoint cannot run code. Writes are atomic (temporary file in the
same folder, fsync, rename), so a run killed mid-save leaves the previous file loadable.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .validate import all_finite

FORMAT = "rnnlab-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "rnnlab"


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used; the message says why."""


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` then move the finished file onto ``path`` atomically."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"{path}: expected an existing folder {folder}, got none")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def save_file(path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` and JSON-serialisable ``meta`` to ``path`` atomically."""
    from safetensors.numpy import save_file as st_save

    arrays = {}
    for k, v in tensors.items():
        a = np.ascontiguousarray(v)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise CheckpointError(f"tensor {k!r}: expected a numeric array, got {a.dtype}")
        arrays[k] = a
    header = {_META_KEY: json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                     "sha256": _digest(arrays), **meta})}
    return atomic_write(path, lambda tmp: st_save(arrays, tmp, metadata=header))


def load_file(path, require_meta: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a safetensors file; returns ``(tensors, meta)``. ``CheckpointError`` on any defect.

    Without ``require_meta`` a plain safetensors weights file (e.g. saved by
    ``safetensors.torch.save_file``) is accepted and ``meta`` is ``{}``.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a checkpoint file, got nothing at that path")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for bad files
        if "bfloat16" in str(exc):
            raise CheckpointError(f"{path}: holds bfloat16 tensors, which NumPy cannot "
                                  "represent; save them as float32 (tensor.float())") from None
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or "
                              f"corrupted?): {exc}") from None
    meta: dict[str, Any] = {}
    if _META_KEY in header:
        try:
            meta = json.loads(header[_META_KEY])
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: corrupted metadata: {exc}") from None
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: expected format {FORMAT!r}, got "
                                  f"{meta.get('format')!r}")
        version = meta.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CheckpointError(f"{path}: expected an integer format_version, got "
                                  f"{version!r}")
        if version > FORMAT_VERSION:
            raise CheckpointError(f"{path}: written by a newer rnnlab (format version "
                                  f"{meta['format_version']}, this one reads <= "
                                  f"{FORMAT_VERSION})")
        if "sha256" in meta and meta["sha256"] != _digest(tensors):
            raise CheckpointError(f"{path}: corrupted: its tensors do not match the checksum "
                                  "written with them")
    elif require_meta:
        raise CheckpointError(f"{path}: expected an rnnlab checkpoint, got a plain "
                              "safetensors file without rnnlab metadata")
    for k, v in tensors.items():
        if np.issubdtype(v.dtype, np.floating) and not all_finite(v):
            raise CheckpointError(f"{path}: tensor {k!r} holds NaN or Inf")
    return tensors, meta


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.data)
    return h.hexdigest()


def save_weights(module, path) -> Path:
    """Save ``module.state_dict()`` (torch names) as a safetensors file."""
    from .. import __version__

    return save_file(path, module.state_dict(), {"kind": "weights", "rnnlab": __version__})


def load_weights(module, path, strict: bool = True) -> None:
    """Load a safetensors state dict (rnnlab's or one saved from PyTorch) into ``module``."""
    tensors, _ = load_file(path, require_meta=False)
    try:
        module.load_state_dict(tensors, strict=strict)
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def flatten(tree: Any, prefix: str = "") -> tuple[dict[str, np.ndarray], Any]:
    """Split nested dicts/lists into ``(arrays by dotted path, JSON skeleton)``.

    Arrays are replaced in the skeleton by ``{"__array__": path}``; :func:`unflatten`
    reverses it exactly.
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(node, path):
        if isinstance(node, np.ndarray):
            arrays[path] = node
            return {"__array__": path}
        if isinstance(node, dict):
            return {str(k): walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(node)]
        if isinstance(node, np.generic):
            return node.item()
        return node

    return arrays, walk(tree, prefix)


def unflatten(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__array__"}:
            key = skeleton["__array__"]
            if key not in arrays:
                raise CheckpointError(f"checkpoint lacks tensor {key!r}")
            return arrays[key]
        return {k: unflatten(v, arrays) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten(v, arrays) for v in skeleton]
    return skeleton
