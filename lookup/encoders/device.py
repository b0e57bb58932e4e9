"""Where an encoder runs: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when available).

A device is checked when the encoder option is validated, before any data is read: a string
torch cannot parse (``cuda:x``), ``cuda`` on a machine without a usable CUDA GPU (or a torch
built without CUDA) and ``cuda:N`` beyond the GPUs present are one-line BadInputs.
"""

from __future__ import annotations

import re

from lookup.errors import BadInput

VALID = "cpu, cuda, cuda:N or auto"
_CUDA = re.compile(r"cuda(?::(\d+))?")


def _gpus() -> tuple[int, str]:
    """(number of usable CUDA devices, why there is none: '' when there are some)."""
    import torch

    if not torch.backends.cuda.is_built():
        return 0, "this torch is built without CUDA"
    if not torch.cuda.is_available():
        return 0, "no CUDA GPU is available"
    return torch.cuda.device_count(), ""


def check_device(device: str, prefix: str = "encoder") -> str:
    """``device`` if it is one of :data:`VALID` and usable here, else a one-line BadInput.

    ``cpu`` and ``auto`` need no torch import; a ``cuda`` device asks torch for the GPUs.
    """
    match = _CUDA.fullmatch(device) if isinstance(device, str) else None
    if not isinstance(device, str) or (device not in ("cpu", "auto") and match is None):
        raise BadInput(f"{prefix}.device={device!r} is invalid; valid: {VALID}")
    if match is None:
        return device
    count, why = _gpus()
    if count == 0:
        raise BadInput(f"{prefix}.device={device!r} is invalid: {why}; valid: cpu or auto")
    index = int(match.group(1) or 0)
    if index >= count:
        raise BadInput(
            f"{prefix}.device={device!r} is invalid: this machine has {count} CUDA "
            f"device{'s' if count > 1 else ''}; valid: cpu, auto, cuda, cuda:0..cuda:{count - 1}"
        )
    return device


def resolve_device(device: str):
    """The ``torch.device`` for ``device`` (``auto``: cuda when available, else cpu)."""
    import torch

    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
