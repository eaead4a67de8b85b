"""x264 settings that make an encode the same on every run and every x86 machine.

Measured with the x264 in PyAV's wheels: its AVX-512 routines make encodes vary run to run (the same
frames at 144, 192 or 288 px wide give 2-5 different bitstreams in 6-10 encodes, with one thread or
several; at square sizes the result is steady but differs from every other instruction set's), while
the SSE and AVX2 routines agree with each other bit for bit. The thread count changes the encode too,
and x264 sets it from the machine's cores. Capping the instruction set at AVX2 and fixing the threads
makes a transcode a function of its frames: the watermark's channel passes (and so the marked frames)
and the benchmark's attacks repeat exactly.
"""

from __future__ import annotations

import functools
from pathlib import Path

# Frame threads for a transcode: fixed, so the encode does not depend on the machine; two is what x264
# picks on a 2-core machine, 30 % faster than one there.
TRANSCODE_THREADS = 2

# x264's names for the instruction sets up to AVX2, and the /proc/cpuinfo flags each needs.
_AVX2_LEVEL = {
    "MMX2": "sse",  # SSE brought the MMX extensions x264 calls MMX2
    "SSE": "sse",
    "SSE2": "sse2",
    "SSE2Fast": "sse2",
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "SSE4.1": "sse4_1",
    "SSE4.2": "sse4_2",
    "LZCNT": "abm",
    "AVX": "avx",
    "FMA3": "fma",
    "BMI1": "bmi1",
    "BMI2": "bmi2",
    "AVX2": "avx2",
}
# What x264 needs before it uses AVX-512.
_AVX512 = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


def reproducible_params(cpu_flags: frozenset[str] | None = None) -> dict[str, str]:
    """Encoder options (PyAV's `options`) that keep x264 off AVX-512 where the CPU has it; empty
    elsewhere (x264's own choice is then already reproducible). `cpu_flags`: the CPU's flags as
    /proc/cpuinfo names them (read from there when None; unknown off Linux)."""
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    if not all(flag in flags for flag in _AVX512):
        return {}
    # Naming a set the CPU lacks would crash the process (illegal instruction), so every one is checked.
    allowed = [name for name, flag in _AVX2_LEVEL.items() if flag in flags]
    return {"x264-params": "asm=" + ",".join(allowed)}


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()
