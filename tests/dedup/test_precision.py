"""Precision by CPU feature (``dedup/precision.py``): the choice from real CPUs' flag lines, the int8 fidelity
gate, the explicit override, and fingerprint memory kept apart per precision."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from tiktok_top10.config import Settings
from tiktok_top10.dedup.memory import DayFingerprints, FingerprintMemory
from tiktok_top10.dedup.precision import choose_precision, cpu_flags, int8_gate, read_cpu_flags_text
from tiktok_top10.dedup.quantize import RECIPE

BASE = "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx lm pni ssse3 fma cx16 " \
       "sse4_1 sse4_2 popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm bmi1 avx2 bmi2 erms"
AVX2_ONLY = BASE + " sha_ni clzero xsaveerptr\n"  # AMD EPYC (Zen 2): no AVX-512 at all
CASCADE_LAKE = BASE + " avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni\n"  # VNNI, no bf16
GENOA = BASE + " avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni\n"
COOPER_LAKE_NO_VNNI = BASE + " avx512f avx512_bf16\n"  # a made-up bf16-only line: bf16 without int8 support
ALDER_LAKE = BASE + " avx_vnni\n"
SAPPHIRE_RAPIDS = BASE + " avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 avx_vnni\n"
SHA = "57" * 32


def _fidelity(tmp_path, verdict="pass", recipe=RECIPE, sha=SHA):
    path = tmp_path / "fidelity.json"
    path.write_text(json.dumps({"entries": [{"backbone": "efficientnet-lite0", "weights_sha256": sha,
                                             "recipe": recipe, "verdict": verdict, "why": "held-out figures"}]}))
    return path


@pytest.mark.parametrize("flags", [CASCADE_LAKE, ALDER_LAKE, SAPPHIRE_RAPIDS, GENOA])
def test_int8_where_the_cpu_has_vnni_or_amx_and_the_gate_passed(tmp_path, flags):
    choice = choose_precision("auto", flags, "efficientnet-lite0", SHA, _fidelity(tmp_path))
    assert choice.precision == "int8"
    assert choice.reason.startswith("auto: int8 because the CPU has ")
    assert "passed its fidelity gate" in choice.reason


def test_vnni_without_a_passing_gate_falls_back_and_says_why(tmp_path, caplog):
    no_entry = choose_precision("auto", CASCADE_LAKE, "efficientnet-lite0", SHA, tmp_path / "absent.json")
    assert no_entry.precision == "fp32"
    assert "int8 not used although the CPU has avx512_vnni" in no_entry.reason
    assert "no int8 fidelity entry" in no_entry.reason and "make gate-int8" in no_entry.reason
    assert "int8 not used" in caplog.text
    failed = choose_precision("auto", GENOA, "efficientnet-lite0", SHA, _fidelity(tmp_path, verdict="fail"))
    assert failed.precision == "bf16" and "failed its fidelity gate" in failed.reason
    other_weights = choose_precision("auto", GENOA, "efficientnet-lite0", "ab" * 32, _fidelity(tmp_path))
    assert other_weights.precision == "bf16"
    stale = choose_precision("auto", CASCADE_LAKE, "efficientnet-lite0", SHA, _fidelity(tmp_path, recipe="old"))
    assert stale.precision == "fp32" and "not today's" in stale.reason
    resnet = choose_precision("auto", SAPPHIRE_RAPIDS, "resnet50", SHA, _fidelity(tmp_path))
    assert resnet.precision == "bf16"  # the gate entry is lite0's: ResNet50's quality is not checked here


def test_bf16_where_native_and_fp32_otherwise(tmp_path):
    absent = tmp_path / "absent.json"
    assert choose_precision("auto", COOPER_LAKE_NO_VNNI, "efficientnet-lite0", SHA, absent).precision == "bf16"
    fp32 = choose_precision("auto", AVX2_ONLY, "efficientnet-lite0", SHA, _fidelity(tmp_path))
    assert fp32.precision == "fp32"
    assert fp32.reason == ("auto: fp32 because the CPU has neither avx512_vnni/avx_vnni/amx_int8 nor "
                           "avx512_bf16/amx_bf16")
    assert choose_precision("auto", "", "efficientnet-lite0", SHA, _fidelity(tmp_path)).precision == "fp32"


def test_an_explicit_setting_overrides(tmp_path):
    passing = _fidelity(tmp_path)
    assert choose_precision("fp32", SAPPHIRE_RAPIDS, "efficientnet-lite0", SHA, passing).precision == "fp32"
    emulated = choose_precision("bf16", AVX2_ONLY, "efficientnet-lite0", SHA, passing)
    assert emulated.precision == "bf16" and "no native bf16" in emulated.reason
    ungated = choose_precision("int8", AVX2_ONLY, "resnet50", SHA, passing)
    assert ungated.precision == "int8"
    assert ungated.reason.startswith("int8: set explicitly") and "no int8 fidelity entry" in ungated.reason
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp16", GENOA, "efficientnet-lite0", SHA, passing)


def test_settings_read_the_precision_from_the_environment(monkeypatch):
    monkeypatch.setenv("TIKTOK_TOP10_PRECISION", "INT8")
    assert Settings.from_env().precision == "int8"
    monkeypatch.setenv("TIKTOK_TOP10_PRECISION", "")
    assert Settings.from_env().precision == "auto"
    monkeypatch.setenv("TIKTOK_TOP10_PRECISION", "fp64")
    with pytest.raises(ValueError, match="precision must be one of"):
        Settings.from_env()


def test_flags_are_read_from_a_cpuinfo_file(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\n" + GENOA + "bugs\t\t: sysret_ss_attrs\n\n"
                       "processor\t: 1\n" + GENOA)
    text = read_cpu_flags_text(cpuinfo)
    assert {"avx512_vnni", "avx512_bf16"} <= cpu_flags(text) and "bugs" not in text
    assert read_cpu_flags_text(tmp_path / "missing") == ""


def test_the_gate_reads_the_committed_file_format(tmp_path):
    passed, why = int8_gate("efficientnet-lite0", SHA, _fidelity(tmp_path))
    assert passed and "held-out figures" in why


def test_fingerprint_memory_is_kept_apart_per_precision(tmp_path):
    day = dt.date(2026, 1, 20)
    look = ((np.zeros((1, 2), np.float32), np.zeros((1, 32), np.uint8)),
            (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)), np.zeros((4, 4), np.uint8))
    fp32 = FingerprintMemory(tmp_path, "efficientnet-lite0", SHA, "fp32")
    int8 = FingerprintMemory(tmp_path, "efficientnet-lite0", SHA, "int8")
    assert fp32.dir.name == f"efficientnet-lite0-{SHA[:12]}-fp32" and int8.dir.name.endswith("-int8")
    fp32.save(DayFingerprints(day, ["main/1"], ["0" * 64], np.ones((1, 4), np.float32), [look]))
    assert fp32.load(day) is not None
    assert int8.load(day) is None and int8.recent(day) == []
    # a folder of the older naming (no precision) is not read by either
    legacy = tmp_path / "cache" / "fingerprints" / f"efficientnet-lite0-{SHA[:12]}"
    legacy.mkdir(parents=True)
    (fp32.path(day)).replace(legacy / fp32.path(day).name)
    assert fp32.load(day) is None and int8.load(day) is None
