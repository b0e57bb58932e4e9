"""Where an encoder runs: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when available)."""

from __future__ import annotations

from lookup.errors import BadInput

VALID = "cpu, cuda, cuda:N or auto"


def check_device(device: str, prefix: str = "encoder") -> str:
    """``device`` if it is one of :data:`VALID`, else a one-line ValueError (no torch import)."""
    if not isinstance(device, str) or (
        device not in ("cpu", "auto") and not device.startswith("cuda")
    ):
        raise BadInput(f"{prefix}.device={device!r} is invalid; valid: {VALID}")
    return device


def resolve_device(device: str):
    """The ``torch.device`` for ``device`` (``auto``: cuda when available, else cpu)."""
    import torch

    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
