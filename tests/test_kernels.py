"""lookup.kernels: which kernel each library runs, the generic-OpenBLAS detection and its fix.

The decision is tested with test doubles: the architecture names threadpoolctl reports
(``Prescott``, ``Core2``, ``Haswell``, ``SkylakeX``, ``Zen``, ``Cooperlake``, ``SapphireRapids``)
and CPU flag sets, since the machine running the tests may well pick the right core by itself.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import pytest

from lookup import kernels
from lookup.kernels import (
    APPLIED_ENV,
    CORETYPE_ENV,
    FIX_ENV,
    Blas,
    KernelFix,
    accepts,
    arch_level,
    cpu_level,
    fix_warning,
    generic_blas,
    owner_of,
    plan_fix,
    prepare_kernels,
    verify_fix,
)

SSE = frozenset({"fpu", "sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2"})
AVX = SSE | {"avx"}
AVX2 = AVX | {"avx2", "fma", "bmi2"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}
SPR = AVX512 | {"avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"}
KNL = AVX2 | {"avx512f", "avx512cd", "avx512er", "avx512pf"}  # no BW/VL/DQ: not SkylakeX
ARM = frozenset({"fp", "asimd", "evtstrm", "aes", "sve"})

FAISS_LIB = "/venv/lib/python3.11/site-packages/faiss_cpu.libs/libopenblaso-r0-d77a1985.3.15.so"
NUMPY_LIB = "/venv/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_-32a4b2a6.so"


def faiss_blas(arch: str) -> Blas:
    return Blas("faiss", "openblas", "0.3.15", arch, 2, FAISS_LIB)


def numpy_blas(arch: str) -> Blas:
    return Blas("numpy", "openblas", "0.3.31.188.0", arch, 2, NUMPY_LIB)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (CORETYPE_ENV, APPLIED_ENV, FIX_ENV):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        (FAISS_LIB, "faiss"),
        (NUMPY_LIB, "numpy"),
        ("/x/site-packages/scipy.libs/libscipy_openblas-1.so", "scipy"),
        ("/x/dist-packages/faiss/.dylibs/libopenblas.0.dylib", "faiss"),
        ("/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "libopenblas"),
    ],
)
def test_owner_of_names_the_bundling_package(path: str, owner: str) -> None:
    assert owner_of(path) == owner


@pytest.mark.parametrize(
    ("flags", "level"),
    [(SPR, 4), (AVX512, 4), (KNL, 3), (AVX2, 3), (AVX2 - {"fma"}, 2), (AVX, 2), (SSE, 1), (ARM, 0)],
)
def test_cpu_level_from_flags(flags: frozenset[str], level: int) -> None:
    assert cpu_level(flags) == level


@pytest.mark.parametrize(
    ("arch", "level"),
    [
        ("Prescott", 1),
        ("Core2", 1),
        ("Nehalem", 1),
        ("Sandybridge", 2),
        ("Haswell", 3),
        ("Zen", 3),
        ("SkylakeX", 4),
        ("Cooperlake", 4),
        ("SapphireRapids", 4),
        ("skylakex", 4),
        ("neoversen1", None),
        ("armv8", None),
        ("", None),
    ],
)
def test_arch_level_of_threadpoolctl_names(arch: str, level: int | None) -> None:
    assert arch_level(arch) == level


@pytest.mark.parametrize(
    ("faiss_arch", "numpy_arch", "flags", "vendor", "candidates"),
    [
        # the Xeon VM: faiss's OpenBLAS does not know the CPU, numpy's does
        ("Prescott", "SkylakeX", AVX512, "GenuineIntel", ("SkylakeX",)),
        ("Core2", "SkylakeX", AVX512, "GenuineIntel", ("SkylakeX",)),
        # numpy's newer OpenBLAS names a core the old one may not know: tried first, then SkylakeX
        ("Prescott", "SapphireRapids", SPR, "GenuineIntel", ("SapphireRapids", "SkylakeX")),
        ("Prescott", "Cooperlake", SPR, "GenuineIntel", ("Cooperlake", "SkylakeX")),
        ("Haswell", "SkylakeX", AVX512, "GenuineIntel", ("SkylakeX",)),
        ("Prescott", "Zen", AVX2, "AuthenticAMD", ("Zen", "Haswell")),
        ("Prescott", "Prescott", AVX2, "AuthenticAMD", ("Zen", "Haswell")),
        ("Prescott", "Haswell", AVX2, "GenuineIntel", ("Haswell",)),
        ("Core2", "Sandybridge", AVX, "GenuineIntel", ("Sandybridge",)),
        # right already, or nothing better to pick
        ("SkylakeX", "SkylakeX", AVX512, "GenuineIntel", None),
        ("Cooperlake", "SapphireRapids", SPR, "GenuineIntel", None),
        ("Zen", "Zen", AVX2, "AuthenticAMD", None),
        ("Haswell", "Haswell", KNL, "GenuineIntel", None),
        ("Prescott", "Prescott", SSE, "GenuineIntel", None),
        ("neoversen1", "neoversen1", ARM, "", None),
    ],
)
def test_plan_fix_for_reported_architectures(
    faiss_arch: str, numpy_arch: str, flags, vendor: str, candidates
) -> None:
    libs = [faiss_blas(faiss_arch), numpy_blas(numpy_arch)]  # the probe's order
    plan = plan_fix(libs, flags, vendor)
    if candidates is None:
        assert plan is None and generic_blas(libs, flags) == []
        return
    assert plan is not None and plan.owner == "faiss" and plan.arch == faiss_arch
    assert plan.version == "0.3.15" and plan.cpu_level == cpu_level(flags)
    assert plan.candidates == candidates and plan.coretype is None


def test_plan_fix_ignores_blas_without_an_architecture() -> None:
    mkl = Blas("torch", "mkl", "2024.2", "", 1, "/x/site-packages/torch/lib/libmkl.so")
    assert plan_fix([mkl], AVX512) is None
    assert plan_fix([mkl, faiss_blas("Prescott")], AVX512).candidates == ("SkylakeX",)


def test_accepts_only_a_fix_that_lowers_nothing() -> None:
    plan = plan_fix([numpy_blas("SkylakeX"), faiss_blas("Prescott")], AVX512)
    base = [numpy_blas("SkylakeX"), faiss_blas("Prescott")]
    assert accepts(plan, base, [numpy_blas("SkylakeX"), faiss_blas("SkylakeX")])
    # an unknown name: the old library falls back to Prescott
    assert not accepts(plan, base, [numpy_blas("SkylakeX"), faiss_blas("Prescott")])
    # the variable reaches numpy's OpenBLAS too: lowering it is not a fix
    assert not accepts(plan, base, [numpy_blas("Haswell"), faiss_blas("SkylakeX")])
    assert not accepts(plan, base, [numpy_blas("SkylakeX")])  # faiss's library did not load
    # both generic (the variable fixes both at once): both must reach the CPU's level
    both = [numpy_blas("Prescott"), faiss_blas("Prescott")]
    plan = plan_fix(both, AVX512)
    assert plan.owner == "numpy" and plan.candidates == ("SkylakeX",)
    assert accepts(plan, both, [numpy_blas("SkylakeX"), faiss_blas("SkylakeX")])
    assert not accepts(plan, both, [numpy_blas("SkylakeX"), faiss_blas("Prescott")])


def _fake_probe(base: dict[str, str], known: dict[str | None, dict[str, str]], calls: list):
    """A probe double: without a value, ``base`` (owner -> arch); with one, ``known[value]``
    (an old OpenBLAS falls back to Prescott for a name it does not know)."""

    def probe(files, coretype=None):
        calls.append(coretype)
        archs = base if coretype is None else known.get(coretype, {"faiss": "Prescott"})
        merged = {**base, **archs} if coretype is not None else base
        return [faiss_blas(merged["faiss"]), numpy_blas(merged["numpy"])]

    return probe


def test_verify_fix_skips_names_the_old_library_does_not_know() -> None:
    calls: list = []
    probe = _fake_probe(
        {"faiss": "Prescott", "numpy": "SapphireRapids"},
        {"SkylakeX": {"faiss": "SkylakeX", "numpy": "SkylakeX"}},
        calls,
    )
    base = probe([FAISS_LIB, NUMPY_LIB], None)
    plan = plan_fix(base, SPR, "GenuineIntel")
    fixed = verify_fix(plan, [FAISS_LIB, NUMPY_LIB], base, probe)
    assert calls == [None, "SapphireRapids", "SkylakeX"]
    assert fixed.coretype == "SkylakeX" and fixed.candidates == ("SapphireRapids", "SkylakeX")


def test_fix_warning_is_one_line_with_the_fix() -> None:
    plan = KernelFix("faiss", "0.3.15", "Prescott", 4, ("SkylakeX",), "SkylakeX")
    lines = {
        "applied": fix_warning(plan, applied=True),
        "off": fix_warning(plan, applied=False),
        "loaded": fix_warning(plan, applied=False, loaded=True),
        "none": fix_warning(KernelFix("faiss", "0.3.15", "Prescott", 4, ("X",)), applied=False),
    }
    for line in lines.values():
        assert "\n" not in line
        assert "faiss's OpenBLAS 0.3.15 runs its generic Prescott kernels" in line
        assert "AVX512" in line
    assert (
        "set OPENBLAS_CORETYPE=SkylakeX" in lines["applied"] and FIX_ENV + "=0" in lines["applied"]
    )
    assert "fix: OPENBLAS_CORETYPE=SkylakeX" in lines["off"]
    assert "start the program with OPENBLAS_CORETYPE=SkylakeX" in lines["loaded"]
    assert "no OPENBLAS_CORETYPE value fixes it (tried X)" in lines["none"]


INTEL_SPR = ("Intel(R) Xeon(R) Processor", "GenuineIntel", SPR)


def _generic_probe(calls: list):
    return _fake_probe(
        {"faiss": "Prescott", "numpy": "SkylakeX"},
        {"SkylakeX": {"faiss": "SkylakeX", "numpy": "SkylakeX"}},
        calls,
    )


def test_prepare_kernels_applies_the_fix_and_workers_inherit_it(
    clean_env, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list = []
    kw = {"cache_dir": tmp_path, "probe": _generic_probe(calls), "cpu": INTEL_SPR}
    files = [FAISS_LIB, NUMPY_LIB]  # not loaded in this process: the fix can apply
    with caplog.at_level(logging.WARNING, logger="lookup.kernels"):
        report = prepare_kernels(files=files, **kw)
    assert report.status == "fixed" and report.applied
    assert report.fix.coretype == "SkylakeX" and report.fix.arch == "Prescott"
    assert os.environ[CORETYPE_ENV] == "SkylakeX" == os.environ[APPLIED_ENV]
    assert [r.getMessage() for r in caplog.records] == [report.warning]
    assert calls == [None, "SkylakeX"]
    # a launcher worker inherits the environment: nothing probed, nothing logged again
    caplog.clear()
    again = prepare_kernels(files=files, **kw)
    assert again.status == "inherited" and again.applied and not caplog.records
    assert calls == [None, "SkylakeX"]
    cols = kernels.kernel_columns()
    assert cols["kernel_fix_applied"] is True and cols["kernel_openblas_coretype"] == "SkylakeX"


def test_prepare_kernels_off_warns_only_and_caches_the_probe(
    clean_env, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list = []
    kw = {"cache_dir": tmp_path, "probe": _generic_probe(calls), "cpu": INTEL_SPR}
    off = prepare_kernels(fix=False, files=[FAISS_LIB, NUMPY_LIB], **kw)
    assert off.status == "generic" and not off.applied
    assert "fix: OPENBLAS_CORETYPE=SkylakeX" in off.warning
    assert CORETYPE_ENV not in os.environ
    monkeypatch.setenv(FIX_ENV, "0")
    by_env = prepare_kernels(files=[FAISS_LIB, NUMPY_LIB], **kw)
    assert by_env.status == "generic" and CORETYPE_ENV not in os.environ
    assert calls == [None, "SkylakeX"]  # the second call read the cache
    assert len(list((tmp_path / "kernels").iterdir())) == 1


@pytest.mark.parametrize("kind", ["fifo", "damaged", "folder"])
def test_a_cached_probe_that_is_no_json_file_is_probed_again(clean_env, tmp_path, kind) -> None:
    """The probe cache is read as any input: a FIFO there (which a plain read would wait on
    forever), a damaged file or a folder cost one probe, never a hang or a traceback."""
    calls: list = []
    kw = {"cache_dir": tmp_path, "probe": _generic_probe(calls), "cpu": INTEL_SPR}
    prepare_kernels(fix=False, files=[FAISS_LIB, NUMPY_LIB], **kw)
    (cached,) = (tmp_path / "kernels").iterdir()
    cached.unlink()
    if kind == "fifo":
        os.mkfifo(cached)
    elif kind == "damaged":
        cached.write_text('{"base": [', encoding="utf-8")
    else:
        cached.mkdir()
    again = prepare_kernels(fix=False, files=[FAISS_LIB, NUMPY_LIB], **kw)
    assert again.status == "generic"
    assert calls == [None, "SkylakeX"] * 2  # probed (and verified) again


def test_prepare_kernels_leaves_a_users_coretype_alone(clean_env, tmp_path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setenv(CORETYPE_ENV, "Haswell")
    report = prepare_kernels(
        files=[FAISS_LIB], cache_dir=tmp_path, probe=_generic_probe(calls), cpu=INTEL_SPR
    )
    assert report.status == "user-set" and not report.applied and calls == []
    cols = kernels.kernel_columns()
    assert cols["kernel_openblas_coretype"] == "Haswell" and cols["kernel_fix_applied"] is False


def test_prepare_kernels_when_nothing_is_wrong_or_the_probe_fails(clean_env, tmp_path) -> None:
    calls: list = []
    right = _fake_probe({"faiss": "SkylakeX", "numpy": "SkylakeX"}, {}, calls)
    ok = prepare_kernels(files=[FAISS_LIB], cache_dir=tmp_path / "a", probe=right, cpu=INTEL_SPR)
    assert ok.status == "ok" and ok.warning is None and calls == [None]
    failed = prepare_kernels(
        files=[FAISS_LIB], cache_dir=tmp_path / "b", probe=lambda f, c=None: None, cpu=INTEL_SPR
    )
    assert failed.status == "probe-failed" and CORETYPE_ENV not in os.environ
    assert prepare_kernels(files=[], cache_dir=tmp_path).status == "no-openblas"


def test_a_library_already_loaded_is_reported_not_fixed(clean_env, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kernels, "_loaded_files", lambda: {FAISS_LIB})
    report = prepare_kernels(
        files=[FAISS_LIB, NUMPY_LIB], cache_dir=tmp_path, probe=_generic_probe([]), cpu=INTEL_SPR
    )
    assert report.status == "generic" and not report.applied and CORETYPE_ENV not in os.environ
    assert "start the program with OPENBLAS_CORETYPE=SkylakeX" in report.warning


def test_kernel_columns_name_every_library_here(clean_env) -> None:
    cols = kernels.kernel_columns(metric="euclidean", dim=16)
    archs = {k: v for k, v in cols.items() if k.startswith("kernel_blas_") and k.endswith("_arch")}
    assert archs, cols  # numpy's and faiss's BLAS are loaded in this process
    for key in ("kernel_faiss_simd", "kernel_torch_cpu", "kernel_cpu_simd", "kernel_generic"):
        assert key in cols
    assert cols["kernel_faiss_simd"] and cols["kernel_torch_cpu"]
    assert cols["kernel_fix_applied"] is False and cols["kernel_openblas_coretype"] == ""
    assert all(isinstance(v, (str, int, bool)) for v in cols.values())


def test_the_real_probe_verifies_a_fix_on_this_machine(clean_env) -> None:
    """Against the OpenBLAS files installed here: pretend faiss's picked Prescott and check that
    the candidate the plan proposes really lifts it (and an unknown name does not)."""
    files = kernels.openblas_files()
    _, vendor, flags = kernels.cpu_info()
    if not files or cpu_level(flags) < 2:
        pytest.skip("no bundled OpenBLAS, or a CPU without AVX")
    base = kernels.probe_openblas(files)
    assert base is not None and {b.owner for b in base} <= {"faiss", "numpy"}
    fake = [replace(b, arch="Prescott") if b.owner == "faiss" else b for b in base]
    plan = plan_fix(fake, flags, vendor)
    if plan is None:
        pytest.skip("faiss's OpenBLAS is not among the probed files")
    bogus = verify_fix(replace(plan, candidates=("NoSuchCore",)), files, fake)
    assert bogus.coretype is None
    fixed = verify_fix(plan, files, fake)
    assert fixed.coretype in plan.candidates
