"""Safe checkpoint reading: safetensors, or torch.load(weights_only=True). Never runs pickled code.

(First version: the foundation work hardens messages for truncated files and code-running pickles.)
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with a message meant for the user."""


def read_checkpoint(path) -> tuple[object, str]:
    """Return (object, source_format). The object is a dict (maybe nested) of tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such file: {path}")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path)), "safetensors"
        except Exception as exc:
            raise CheckpointError(f"{path.name}: not a readable safetensors file ({exc})") from exc
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True), "torch (weights_only)"
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path.name} refuses to load safely: unpickling it would run code ({exc}). "
            "Convert it to a plain state dict or safetensors with the tool that made it."
        ) from exc
    except (RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{path.name} is truncated or not a PyTorch checkpoint ({exc})") from exc
