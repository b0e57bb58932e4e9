"""The kernels each library really runs: recorded in every row, and made right before they load.

Recorded (:func:`kernel_columns`, flat ``kernel_*`` columns):

- every loaded BLAS as ``threadpoolctl`` reports it, named by the package that bundles it
  (``kernel_blas_faiss_*`` for faiss-cpu's OpenBLAS, ``kernel_blas_numpy_*`` for numpy's):
  ``_impl`` (openblas, mkl, blis), ``_version``, ``_arch`` (the core OpenBLAS picked, e.g.
  ``SkylakeX``, ``Haswell``, ``Prescott``), ``_threads`` and ``_file``;
- ``kernel_faiss_simd``: the SIMD level faiss dispatches to (``SIMDConfig.get_level_name()`` in
  faiss builds with dynamic dispatch, else the ``swigfaiss_*`` variant its loader imported), and
  ``kernel_faiss_compile``: ``faiss.get_compile_options()``;
- ``kernel_torch_cpu``: ``torch.backends.cpu.get_cpu_capability()`` (``AVX512``, ``AVX2``, ...)
  and ``kernel_torch_blas``: the BLAS torch was built with (``BLAS_INFO`` of its build config);
- ``kernel_usearch``: usearch's hardware acceleration for the job's metric, dtype and dimension
  (``usearch.compiled.hardware_acceleration``, the value ``Index.hardware_acceleration`` reports);
- ``kernel_cpu_simd``: the best x86 SIMD level the CPU flags allow (``avx512``, ``avx2``,
  ``avx``, ``sse3``; empty elsewhere), ``kernel_generic``: the BLAS libraries running a kernel
  below that level (``faiss:Prescott``; empty when none), ``kernel_openblas_coretype``: the
  ``OPENBLAS_CORETYPE`` in effect (whoever set it) and ``kernel_fix_applied``: whether
  :func:`prepare_kernels` set it.

hnswlib and annoy report nothing: hnswlib chooses its SSE/AVX/AVX-512 distance functions from
cpuid when an index is created (if its wheel was compiled with them) and annoy is compiled for
one level; neither exposes which, so there is no column for them.

Made right (:func:`prepare_kernels`, called first thing by every entry point): faiss-cpu's
wheels bundle an old OpenBLAS (0.3.15 in faiss-cpu 1.7-1.15) that falls back to its generic
``Prescott`` kernels on CPUs it does not know (recent Xeons in cloud VMs), ~4x slower for every
GEMM faiss runs (exact search, flat indexes, IVF coarse search) while numpy's newer OpenBLAS on
the same machine picks ``SkylakeX``. Which core an OpenBLAS picks is decided once, when it loads,
from ``OPENBLAS_CORETYPE`` or cpuid. So, before anything loads faiss:

1. a subprocess loads every bundled OpenBLAS file (faiss's and numpy's; ``ctypes``, not
   ``import faiss``: :mod:`lookup._openblas_probe`) and reports what each picked
   (:func:`probe_openblas`);
2. :func:`plan_fix` (pure) compares each with the CPU's flags: an OpenBLAS running a kernel
   below what the flags allow gets candidate ``OPENBLAS_CORETYPE`` values, first the core
   another (newer) OpenBLAS in the process picked when it is the best for these flags, then the
   standard name for the flags' level (``SkylakeX``, ``Haswell``/``Zen``, ``Sandybridge``);
3. each candidate is verified by probing again with it set (an old OpenBLAS that does not
   know a name, or was built without it, silently falls back to ``Prescott``, and the variable
   is read by every OpenBLAS in the process, numpy's included): the first that lifts the
   generic library to the CPU's level without lowering any other library's core wins;
4. the result is cached under ``<cache_dir>/kernels/`` keyed by the CPU (model and flags) and
   the OpenBLAS files (path, size, mtime), so later runs read a small JSON;
5. one warning line names the library, its core, the CPU level and the fix, and by default
   the fix is applied: ``OPENBLAS_CORETYPE`` is set in ``os.environ`` (hence inherited by every
   launcher worker) and ``LOOKUP_KERNEL_FIX_APPLIED`` records it. ``LOOKUP_KERNEL_FIX=0`` (or
   ``prepare_kernels(fix=False)``) only warns. A user's own ``OPENBLAS_CORETYPE`` is left as it is.

Cost at startup: a cache hit reads /proc/cpuinfo, stats the OpenBLAS files and reads one JSON
(a few ms); a miss runs one subprocess (~0.1-0.2 s), two or three when a fix is verified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)

CORETYPE_ENV = "OPENBLAS_CORETYPE"
FIX_ENV = "LOOKUP_KERNEL_FIX"  # "0" (or false/no/off): warn only, do not set OPENBLAS_CORETYPE
APPLIED_ENV = "LOOKUP_KERNEL_FIX_APPLIED"  # the OPENBLAS_CORETYPE value prepare_kernels set
PROBE_FORMAT = 1  # bump when the probe or the plan changes what a cached entry means
# Packages whose bundled OpenBLAS the probe loads: faiss's is the one that goes generic; numpy's
# is probed so that the fix never lowers it (OPENBLAS_CORETYPE reaches every OpenBLAS).
PROBED_PACKAGES = ("faiss", "numpy")

# x86 SIMD levels: what OpenBLAS's kernels for a core need, and what the CPU flags allow.
LEVEL_NAMES = {1: "sse3", 2: "avx", 3: "avx2", 4: "avx512"}
_AVX512 = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"})
# OpenBLAS x86-64 core names (as openblas_get_corename reports them) by the level they need.
_ARCH_LEVEL = {
    **dict.fromkeys(
        (
            "katmai",
            "coppermine",
            "northwood",
            "prescott",
            "banias",
            "atom",
            "core2",
            "penryn",
            "dunnington",
            "nehalem",
            "athlon",
            "opteron",
            "opteron_sse3",
            "barcelona",
            "nano",
            "bobcat",
        ),
        1,
    ),
    **dict.fromkeys(("sandybridge", "bulldozer", "piledriver", "steamroller"), 2),
    **dict.fromkeys(("haswell", "zen", "excavator"), 3),
    **dict.fromkeys(("skylakex", "cooperlake", "sapphirerapids"), 4),
}
# The standard OPENBLAS_CORETYPE for a level, per CPU vendor (after the cores other libs picked).
_DEFAULT_CORE = {4: ("SkylakeX",), 3: ("Haswell",), 2: ("Sandybridge",)}
_DEFAULT_CORE_AMD = {3: ("Zen", "Haswell")}
_AMD = ("AuthenticAMD", "HygonGenuine")


# ---- what is loaded ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Blas:
    """One BLAS library as ``threadpoolctl`` reports it."""

    owner: str  # the package that bundles it: "faiss", "numpy", ... (see owner_of)
    impl: str  # threadpoolctl's internal_api: openblas, mkl, blis
    version: str
    arch: str  # the core OpenBLAS picked ("" when the library does not say)
    threads: int
    filepath: str


def owner_of(filepath: str) -> str:
    """The package a shared library ships in, from its path.

    ``.../site-packages/faiss_cpu.libs/libopenblas...so`` -> ``faiss``, ``.../numpy.libs/...``
    -> ``numpy``, ``.../faiss/.dylibs/...`` -> ``faiss``; outside site-packages, the file name
    (``libopenblas.so.0`` -> ``libopenblas``).
    """
    parts = Path(filepath).parts
    for i, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages") and i + 1 < len(parts) - 1:
            name = parts[i + 1].split(".")[0].lower().replace("-", "_")
            return re.sub(r"_(cpu|gpu)$", "", name) or name
    return Path(filepath).name.split(".")[0]


def blas_libraries(info: Iterable[Mapping] | None = None) -> list[Blas]:
    """The BLAS libraries loaded in this process (``info``: threadpoolctl's ``threadpool_info()``
    entries, read now when None), in load order."""
    if info is None:
        from threadpoolctl import threadpool_info

        info = threadpool_info()
    return [
        Blas(
            owner=owner_of(str(i.get("filepath", ""))),
            impl=str(i.get("internal_api", "")),
            version=str(i.get("version") or ""),
            arch=str(i.get("architecture") or ""),
            threads=int(i.get("num_threads") or 0),
            filepath=str(i.get("filepath", "")),
        )
        for i in info
        if i.get("user_api") == "blas"
    ]


def cpu_info(path: str = "/proc/cpuinfo") -> tuple[str, str, frozenset[str]]:
    """(model name, vendor id, flags) of the first CPU; empty where /proc/cpuinfo is absent."""
    model = vendor = ""
    flags: frozenset[str] = frozenset()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags":
                    flags = frozenset(value.split())
                    break  # the first CPU's block is complete
    except OSError:
        pass
    return model, vendor, flags


def cpu_level(flags: Iterable[str]) -> int:
    """The best x86 SIMD level the flags allow: 4 AVX-512 (F, BW, VL, DQ, CD: what OpenBLAS's
    SkylakeX kernels use), 3 AVX2 + FMA, 2 AVX, 1 SSE3 (``pni``), 0 none known (non-x86)."""
    flags = frozenset(flags)
    if _AVX512 <= flags:
        return 4
    if {"avx2", "fma"} <= flags:
        return 3
    if "avx" in flags:
        return 2
    if "pni" in flags or "sse3" in flags:
        return 1
    return 0


def arch_level(arch: str) -> int | None:
    """The SIMD level an OpenBLAS x86-64 core needs; None for names not known here (ARM, POWER,
    a future core), which are never called generic."""
    return _ARCH_LEVEL.get(arch.strip().lower())


def generic_blas(libs: Sequence[Blas], flags: Iterable[str]) -> list[Blas]:
    """The OpenBLAS libraries running a core below the level the CPU flags allow."""
    level = cpu_level(flags)
    return [
        b
        for b in libs
        if b.impl == "openblas" and (a := arch_level(b.arch)) is not None and a < level
    ]


# ---- the decision (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class KernelFix:
    """What to do about one OpenBLAS running a generic core."""

    owner: str  # "faiss"
    version: str  # "0.3.15"
    arch: str  # the core it picked on its own: "Prescott"
    cpu_level: int  # what the flags allow (4: AVX-512)
    candidates: tuple[str, ...]  # OPENBLAS_CORETYPE values to try, best first
    coretype: str | None = None  # the verified value (None: none verified yet, or none works)


def plan_fix(libs: Sequence[Blas], flags: Iterable[str], vendor: str = "") -> KernelFix | None:
    """The fix for the first OpenBLAS in ``libs`` running a core below the CPU's level, or None.

    Candidates: the cores other OpenBLAS libraries in ``libs`` picked that reach the CPU's level
    (newest first: they run in the same process and read the same variable), then the standard
    core of that level (``SkylakeX``; ``Zen``/``Haswell`` on AMD, ``Haswell`` on Intel;
    ``Sandybridge``). Which of them the generic library accepts is for :func:`verify_fix`.
    """
    flags = frozenset(flags)
    level = cpu_level(flags)
    generic = generic_blas(libs, flags)
    if not generic:
        return None
    bad = generic[0]
    others = sorted(
        (b for b in libs if b is not bad and arch_level(b.arch) == level),
        key=lambda b: _version_key(b.version),
        reverse=True,
    )
    defaults = (_DEFAULT_CORE_AMD if vendor in _AMD else {}).get(level) or _DEFAULT_CORE[level]
    candidates = tuple(dict.fromkeys([b.arch for b in others] + list(defaults)))
    return KernelFix(bad.owner, bad.version, bad.arch, level, candidates)


def accepts(fix: KernelFix, base: Sequence[Blas], trial: Sequence[Blas]) -> bool:
    """Whether a probe run with a candidate set (``trial``) fixed every generic library without
    lowering any other: each library of ``base`` (probed without the variable) loaded again, a
    generic one now at the CPU's level, every other at least at its own level."""
    after = {b.filepath: arch_level(b.arch) or 0 for b in trial}
    for b in base:
        level = arch_level(b.arch) or 0
        want = fix.cpu_level if b.impl == "openblas" and level < fix.cpu_level else level
        if b.filepath not in after or after[b.filepath] < want:
            return False
    return bool(base)


def fix_warning(fix: KernelFix, *, applied: bool, loaded: bool = False) -> str:
    """The one warning line: which library runs which core on what CPU, and the fix."""
    what = (
        f"{fix.owner}'s OpenBLAS {fix.version} runs its generic {fix.arch} kernels on a CPU with "
        f"{LEVEL_NAMES.get(fix.cpu_level, '?').upper()} (its GEMMs, e.g. exact search and faiss "
        "flat/IVF, run several times slower)"
    )
    if fix.coretype is None:
        tried = ", ".join(fix.candidates)
        return f"{what}; no OPENBLAS_CORETYPE value fixes it (tried {tried})"
    if applied:
        return (
            f"{what}; set {CORETYPE_ENV}={fix.coretype} before it loads, for this process and its "
            f"workers ({FIX_ENV}=0 turns this off)"
        )
    if loaded:
        return (
            f"{what}; it was loaded before the fix could apply: start the program with "
            f"{CORETYPE_ENV}={fix.coretype}"
        )
    return (
        f"{what}; fix: {CORETYPE_ENV}={fix.coretype} in the environment (or unset {FIX_ENV}=0 "
        "to let the harness set it)"
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:4])


# ---- the probe (a subprocess) ------------------------------------------------------------------


def openblas_files(packages: Sequence[str] = PROBED_PACKAGES) -> list[str]:
    """The OpenBLAS files bundled with ``packages`` (found without importing them): auditwheel's
    ``<site>/<dist>.libs/`` and delocate's ``<package>/.dylibs/``."""
    import importlib.util

    out: list[str] = []
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        pkg = Path(next(iter(spec.submodule_search_locations)))
        folders = [*sorted(pkg.parent.glob(f"{name}*.libs")), pkg / ".dylibs"]
        for folder in folders:
            if folder.is_dir():
                out += sorted(
                    str(p)
                    for p in folder.iterdir()
                    if "openblas" in p.name.lower() and (".so" in p.name or p.suffix == ".dylib")
                )
    return list(dict.fromkeys(out))


def probe_openblas(files: Sequence[str], coretype: str | None = None) -> list[Blas] | None:
    """What each OpenBLAS file picks when loaded in a fresh process with ``OPENBLAS_CORETYPE``
    unset (``coretype=None``) or set; None when the probe fails (logged at debug level)."""
    env = {k: v for k, v in os.environ.items() if k not in (CORETYPE_ENV, APPLIED_ENV)}
    if coretype is not None:
        env[CORETYPE_ENV] = coretype
    try:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("_openblas_probe.py")), *files],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1:] or out.returncode)
        return blas_libraries(json.loads(out.stdout.strip().splitlines()[-1]))
    except (OSError, subprocess.SubprocessError, RuntimeError, ValueError, IndexError) as exc:
        log.debug("OpenBLAS probe failed (%s: %s)", type(exc).__name__, exc)
        return None


Probe = Callable[[Sequence[str], "str | None"], "list[Blas] | None"]


def verify_fix(
    fix: KernelFix, files: Sequence[str], base: Sequence[Blas], probe: Probe = probe_openblas
) -> KernelFix:
    """``fix`` with ``coretype`` set to the first candidate that :func:`accepts` (None if none)."""
    for candidate in fix.candidates:
        trial = probe(files, candidate)
        if trial is not None and accepts(fix, base, trial):
            return replace(fix, coretype=candidate)
    return fix


# ---- the entry point ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelReport:
    """What :func:`prepare_kernels` found and did."""

    status: str  # ok | fixed | generic | user-set | inherited | no-openblas | probe-failed | ...
    fix: KernelFix | None = None
    applied: bool = False
    warning: str | None = None  # the one line logged at WARNING, if any


def fix_enabled(value: str | None = None) -> bool:
    """``LOOKUP_KERNEL_FIX`` (read now when ``value`` is None): on unless 0/false/no/off."""
    value = os.environ.get(FIX_ENV, "1") if value is None else value
    return value.strip().lower() not in ("0", "false", "no", "off")


def _default_cache_dir() -> str:
    return os.environ.get("LOOKUP_CACHE_DIR", ".cache/lookup")


def _probe_key(files: Sequence[str], model: str, flags: frozenset[str]) -> str:
    stamps = []
    for f in files:
        try:
            st = os.stat(f)
            stamps.append([f, st.st_size, st.st_mtime_ns])
        except OSError:
            stamps.append([f, -1, -1])
    payload = {
        "format": PROBE_FORMAT,
        "cpu": model,
        "flags": sorted(flags),
        "files": stamps,
        "python": sys.executable,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _loaded_files() -> set[str]:
    """Shared libraries mapped into this process (Linux /proc/self/maps; empty elsewhere)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            return {line.split(None, 5)[5].strip() for line in f if line.count(" ") >= 5}
    except (OSError, IndexError):
        return set()


_PROBE_CACHE_LIMIT = 1 << 20  # bytes: a cached probe is a few hundred


def _decide(files: Sequence[str], model: str, vendor: str, flags, cache_dir, probe) -> dict:
    """The cached decision: ``{"base": [...], "fix": {...} | None}`` (probing on a miss)."""
    from lookup.io import atomic_write_bytes, read_bounded

    path = Path(cache_dir) / "kernels" / f"openblas-{_probe_key(files, model, flags)}.json"
    try:  # a regular file of at most 1 MiB (a FIFO or a device there would block or never end)
        if path.stat().st_size <= _PROBE_CACHE_LIMIT:
            entry = json.loads(read_bounded(None, path).decode("utf-8"))
            if isinstance(entry, dict) and "base" in entry and "fix" in entry:
                return entry
    except (OSError, ValueError):  # missing, not a regular file, damaged: probe again
        pass
    base = probe(files, None)
    if base is None:
        return {"base": None, "fix": None}
    fix = plan_fix(base, flags, vendor)
    if fix is not None:
        fix = verify_fix(fix, files, base, probe)
    entry = {"base": [asdict(b) for b in base], "fix": None if fix is None else asdict(fix)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(str(path), json.dumps(entry, indent=1).encode())
    except OSError as exc:  # a read-only cache only costs the probe next time
        log.debug("could not cache the OpenBLAS probe at %s: %s", path, exc)
    return entry


def prepare_kernels(
    *,
    fix: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    probe: Probe = probe_openblas,
    files: Sequence[str] | None = None,
    cpu: tuple[str, str, frozenset[str]] | None = None,
) -> KernelReport:
    """Detect a bundled OpenBLAS that would run generic kernels and, by default, fix it before
    it loads (see the module docstring). Call it first thing, before faiss is imported.

    Args:
        fix: apply the fix (set ``OPENBLAS_CORETYPE``); None reads ``LOOKUP_KERNEL_FIX``
            (default on; ``0`` only warns).
        cache_dir: where the probe's result is cached (default ``$LOOKUP_CACHE_DIR`` or
            ``.cache/lookup``).
        probe, files, cpu: the probe function, the OpenBLAS files and ``cpu_info()``; for tests.

    Returns:
        a :class:`KernelReport`; its ``warning`` (if any) was logged at WARNING level.
    """
    fix = fix_enabled() if fix is None else fix
    current = os.environ.get(CORETYPE_ENV)
    if current is not None:
        mine = os.environ.get(APPLIED_ENV) == current
        return KernelReport("inherited" if mine else "user-set", applied=mine)
    files = openblas_files() if files is None else list(files)
    if not files:
        return KernelReport("no-openblas")
    model, vendor, flags = cpu_info() if cpu is None else cpu
    entry = _decide(files, model, vendor, flags, cache_dir or _default_cache_dir(), probe)
    if entry["base"] is None:
        return KernelReport("probe-failed")
    if entry["fix"] is None:
        return KernelReport("ok")
    plan = KernelFix(**{**entry["fix"], "candidates": tuple(entry["fix"]["candidates"])})
    loaded = bool(set(files) & _loaded_files())
    applied = fix and plan.coretype is not None and not loaded
    if applied:
        os.environ[CORETYPE_ENV] = plan.coretype
        os.environ[APPLIED_ENV] = plan.coretype
    line = fix_warning(plan, applied=applied, loaded=loaded and fix)
    log.warning("%s", line)
    return KernelReport("fixed" if applied else "generic", plan, applied, line)


# ---- the row's columns -------------------------------------------------------------------------


def _faiss_columns() -> dict[str, str]:
    try:
        import faiss
    except ImportError:
        return {}
    simd = ""
    config = getattr(faiss, "SIMDConfig", None)
    if config is not None and hasattr(config, "get_level_name"):
        try:
            simd = str(config.get_level_name())
        except Exception:  # noqa: BLE001 - an older build without dispatch: use the loader
            simd = ""
    if not simd:
        variants = [m for m in sys.modules if m.startswith("faiss.swigfaiss")]
        simd = max(variants, key=len).removeprefix("faiss.swigfaiss").lstrip("_").upper()
        simd = simd or "GENERIC"
    options = faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else ""
    return {"kernel_faiss_simd": simd, "kernel_faiss_compile": str(options).strip()}


def _torch_columns() -> dict[str, str]:
    try:
        import torch
    except ImportError:
        return {}
    blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return {
        "kernel_torch_cpu": str(torch.backends.cpu.get_cpu_capability()),
        "kernel_torch_blas": blas.group(1) if blas else "",
    }


_USEARCH_METRIC = {"cosine": "Cos", "euclidean": "L2sq", "ip": "IP"}


def _usearch_column(metric: str, dtype: str, dim: int) -> dict[str, str]:
    try:
        from usearch import compiled
    except ImportError:
        return {}
    try:
        value = compiled.hardware_acceleration(
            dtype=getattr(compiled.ScalarKind, dtype.upper()),
            ndim=int(dim),
            metric_kind=getattr(compiled.MetricKind, _USEARCH_METRIC[metric]),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.debug("usearch hardware acceleration unknown: %s", exc)
        return {"kernel_usearch": ""}
    return {"kernel_usearch": str(value)}


def kernel_columns(
    *, metric: str = "cosine", dim: int = 0, usearch_dtype: str = "f32"
) -> dict[str, str | int | bool]:
    """Flat ``kernel_*`` columns naming the kernels this process runs (see module docstring).

    Imports faiss and torch (the engine runs both) so their libraries are loaded and reported;
    ``metric``, ``dim`` and ``usearch_dtype`` select usearch's kernel (it picks one per metric,
    scalar type and dimension).
    """
    cols: dict[str, str | int | bool] = {}
    cols.update(_faiss_columns())
    cols.update(_torch_columns())
    cols.update(_usearch_column(metric, usearch_dtype, dim))
    _, _, flags = cpu_info()
    libs = blas_libraries()
    seen: dict[str, int] = {}
    for b in libs:
        n = seen[b.owner] = seen.get(b.owner, 0) + 1
        name = b.owner if n == 1 else f"{b.owner}{n}"
        cols[f"kernel_blas_{name}_impl"] = b.impl
        cols[f"kernel_blas_{name}_version"] = b.version
        cols[f"kernel_blas_{name}_arch"] = b.arch
        cols[f"kernel_blas_{name}_threads"] = b.threads
        cols[f"kernel_blas_{name}_file"] = os.path.basename(b.filepath)
    cols["kernel_cpu_simd"] = LEVEL_NAMES.get(cpu_level(flags), "")
    cols["kernel_generic"] = " ".join(f"{b.owner}:{b.arch}" for b in generic_blas(libs, flags))
    coretype = os.environ.get(CORETYPE_ENV, "")
    cols["kernel_openblas_coretype"] = coretype
    cols["kernel_fix_applied"] = bool(coretype) and os.environ.get(APPLIED_ENV) == coretype
    return cols


__all__ = [
    "APPLIED_ENV",
    "CORETYPE_ENV",
    "FIX_ENV",
    "Blas",
    "KernelFix",
    "KernelReport",
    "accepts",
    "arch_level",
    "blas_libraries",
    "cpu_info",
    "cpu_level",
    "fix_enabled",
    "fix_warning",
    "generic_blas",
    "kernel_columns",
    "openblas_files",
    "owner_of",
    "plan_fix",
    "prepare_kernels",
    "probe_openblas",
    "verify_fix",
]
