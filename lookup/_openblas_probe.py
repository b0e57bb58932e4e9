"""Load OpenBLAS files the way their package would, and say which core each picked.

Run as a script by :func:`lookup.kernels.probe_openblas` in a fresh process (stdlib and
threadpoolctl only, so it runs without importing ``lookup``)::

    python lookup/_openblas_probe.py FILE [FILE ...]   # prints threadpoolctl's BLAS entries as JSON

:func:`load_openblas` is also what a benchmark calls to load faiss's OpenBLAS under a chosen
``OPENBLAS_CORETYPE`` before faiss is imported.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys


def load_openblas(path: str) -> ctypes.CDLL:
    """``dlopen`` an OpenBLAS file after the libraries beside it (auditwheel puts the RPATH on a
    wheel's extension module, not on the libraries it bundles, so their siblings libgfortran,
    libgomp, ... must be loaded first, globally); its core is chosen now, from
    ``OPENBLAS_CORETYPE`` or cpuid."""
    folder = os.path.dirname(path)
    pending = [
        os.path.join(folder, name)
        for name in sorted(os.listdir(folder))
        if "openblas" not in name.lower() and (".so" in name or name.endswith(".dylib"))
    ]
    while pending:
        left = []
        for p in pending:
            try:
                ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
            except OSError:  # needs a sibling not loaded yet: next round
                left.append(p)
        if len(left) == len(pending):
            break
        pending = left
    return ctypes.CDLL(path)


def main(files: list[str]) -> int:
    """Load ``files`` in order; print threadpoolctl's BLAS entries as one JSON line."""
    for path in files:
        load_openblas(path)
    from threadpoolctl import threadpool_info

    print(json.dumps([i for i in threadpool_info() if i.get("user_api") == "blas"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
