"""Which arithmetic the backbone runs in, by what the CPU does natively, and why (recorded in the manifest).

``auto`` (the default; ``TIKTOK_TOP10_PRECISION`` or ``Settings.precision`` overrides it with fp32, bf16 or int8):

1. **int8** where the CPU has VNNI (``avx512_vnni``, ``avx_vnni``) or AMX-INT8 (``amx_int8``) *and* the
   quantised model of these very weights passed its fidelity gate: ``fidelity.json`` (written by
   ``make gate-int8``, ``bench/gate_int8.py``) has an entry for the weights' SHA-256 that says ``pass``.  A model
   without a passing entry is not used, and the reason is logged and recorded;
2. **bf16** where the CPU multiplies bf16 natively (``avx512_bf16``, ``amx_bf16``);
3. **fp32** otherwise.

The flags are read from ``/proc/cpuinfo``; every decision is a function of the flags text, so it is tested with
the flag strings of the CPUs it is meant for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
FIDELITY_FILE = Path(__file__).with_name("fidelity.json")


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # fp32, bf16 or int8
    reason: str


def read_cpu_flags_text(path: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``flags`` line of ``/proc/cpuinfo`` ("" where there is none: then fp32)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return ""


def cpu_flags(text: str) -> set[str]:
    """The flag words of a ``flags : fpu vme ...`` line (or of a bare space-separated list)."""
    return set(text.split(":", 1)[-1].split())


@lru_cache(maxsize=8)  # the second look asks once per ORB product (grouping.bound_dtype): thousands a day
def native_bf16(text: str) -> bool:
    return bool(cpu_flags(text) & set(BF16_FLAGS))


def native_int8(text: str) -> bool:
    return bool(cpu_flags(text) & set(INT8_FLAGS))


@lru_cache(maxsize=1)
def this_cpu_flags_text() -> str:
    return read_cpu_flags_text()


@lru_cache(maxsize=4)
def _fidelity(path: Path, stamp: tuple) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"entries": []}


def _stamp(path: Path) -> tuple:
    """What makes a cached read stale: ``make gate-int8`` rewrites the file in a running process's lifetime."""
    try:
        st = path.stat()
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def fidelity_entry(backbone: str, weights_sha256: str, path: Path | None = None) -> dict | None:
    path = Path(path or FIDELITY_FILE)
    for entry in _fidelity(path, _stamp(path)).get("entries", []):
        if entry.get("backbone") == backbone and entry.get("weights_sha256") == weights_sha256:
            return entry
    return None


def int8_gate(backbone: str, weights_sha256: str, path: Path | None = None) -> tuple[bool, str]:
    """(passed, why): whether the int8 model of these weights passed ``make gate-int8``."""
    entry = fidelity_entry(backbone, weights_sha256, path)
    name = Path(path or FIDELITY_FILE).name
    if entry is None:
        return False, (f"no int8 fidelity entry for {backbone} (weights sha256 {weights_sha256[:12]}…) in {name}: "
                       "run `make gate-int8`")
    from .quantize import RECIPE

    if entry.get("recipe") != RECIPE:
        return False, (f"the int8 {backbone} fidelity entry in {name} is for recipe {entry.get('recipe')!r}, "
                       f"not today's {RECIPE!r}: run `make gate-int8`")
    if entry.get("verdict") != "pass":
        return False, f"the int8 {backbone} failed its fidelity gate ({name}: {entry.get('why', 'fail')})"
    return True, f"the int8 {backbone} passed its fidelity gate ({name}: {entry.get('why', 'pass')})"


def choose_precision(requested: str, flags_text: str, backbone: str, weights_sha256: str,
                     fidelity_path: Path | None = None) -> PrecisionChoice:
    """The precision to run ``backbone`` (these weights) in on a CPU with ``flags_text``, and why.

    An explicit ``requested`` (fp32, bf16, int8) is taken as it is — bf16 without native support is emulated and
    slow, int8 without a passing gate is the operator's call — and the reason says so."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != "auto":
        note = ""
        if requested == "int8":
            passed, why = int8_gate(backbone, weights_sha256, fidelity_path)
            note = "" if passed else f"; warning: {why}"
        elif requested == "bf16" and not native_bf16(flags_text):
            note = "; warning: this CPU has no native bf16 (emulated, slower than fp32)"
        return PrecisionChoice(requested, f"{requested}: set explicitly (TIKTOK_TOP10_PRECISION / --precision){note}")
    flags = cpu_flags(flags_text)
    int8_have = sorted(flags & set(INT8_FLAGS))
    bf16_have = sorted(flags & set(BF16_FLAGS))
    skipped = ""
    if int8_have:
        passed, why = int8_gate(backbone, weights_sha256, fidelity_path)
        if passed:
            return PrecisionChoice("int8", f"auto: int8 because the CPU has {', '.join(int8_have)} and {why}")
        log.warning("int8 not used although the CPU has %s: %s", ", ".join(int8_have), why)
        skipped = f" (int8 not used although the CPU has {', '.join(int8_have)}: {why})"
    if bf16_have:
        return PrecisionChoice("bf16", f"auto: bf16 because the CPU has {', '.join(bf16_have)}{skipped}")
    if int8_have:
        return PrecisionChoice("fp32", f"auto: fp32 because the CPU has no {'/'.join(BF16_FLAGS)}{skipped}")
    return PrecisionChoice("fp32", "auto: fp32 because the CPU has neither "
                                   f"{'/'.join(INT8_FLAGS)} nor {'/'.join(BF16_FLAGS)}")
