"""The machine a benchmark runs on: what it is, and how busy it is.

Two jobs, both read from Linux's /proc:

- ``environment()`` describes the CPU, the BLAS libraries that are loaded
  (through threadpoolctl: library, version, kernel, threads), PyTorch's
  thread count and BLAS, and the environment variables that change BLAS
  behaviour (OPENBLAS_CORETYPE and friends).
- ``CpuMeter`` measures how much CPU *other* processes use while a block
  of timing runs, and ``wait_for_quiet`` waits until that is small before
  a block starts.

Other processes' use is the whole machine's busy time (/proc/stat) minus
this process's own (``os.times``), in cores: 1.0 means one core was kept
fully busy by someone else for the whole interval.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field

# Variables that change which BLAS kernel runs or how its threads behave.
BLAS_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_VERBOSE",
    "GOTO_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "OMP_PROC_BIND",
    "GOMP_SPINCOUNT",
    "MKL_NUM_THREADS",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "KMP_AFFINITY",
    "KMP_BLOCKTIME",
    "ATEN_CPU_CAPABILITY",
    "NPY_DISABLE_CPU_FEATURES",
)

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                    return [flag for flag in wanted if flag in flags]
    except OSError:
        pass
    return []


def load_average():
    """The 1, 5 and 15 minute load averages."""
    try:
        with open("/proc/loadavg") as file:
            return [float(part) for part in file.read().split()[:3]]
    except OSError:
        return None


def blas_libraries():
    """The BLAS and OpenMP libraries loaded now, as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    keys = (
        "user_api",
        "internal_api",
        "prefix",
        "version",
        "architecture",
        "threading_layer",
        "num_threads",
        "filepath",
    )
    return [
        {key: info[key] for key in keys if key in info} for info in threadpool_info()
    ]


def environment():
    """A JSON-ready description of the machine and the libraries."""
    import numpy as np

    report = {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "blas_libraries": blas_libraries(),
        "variables": {name: os.environ.get(name) for name in BLAS_VARIABLES},
        "load_average": load_average(),
    }
    try:
        import torch

        report["torch"] = {
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "mkl": torch.backends.mkl.is_available(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "blas": _torch_blas(torch),
        }
    except ImportError:
        report["torch"] = None
    try:
        import sklearn

        report["sklearn"] = sklearn.__version__
    except ImportError:
        report["sklearn"] = None
    return report


def _torch_blas(torch):
    for line in torch.__config__.show().splitlines():
        if "Math Kernel Library" in line or "OpenBLAS" in line:
            return line.strip(" -")
    return "unknown"


def _machine_busy_seconds():
    # The first line of /proc/stat: time all CPUs spent in each state.
    with open("/proc/stat") as file:
        fields = [int(value) for value in file.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    busy = user + nice + system + irq + softirq + steal
    return busy / TICKS_PER_SECOND


def _own_seconds():
    # This process and the children it has waited for.
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _process_seconds():
    """CPU seconds used so far by every process: pid → (name, seconds).

    Keyed by pid alone: a kernel worker's name changes with its work.
    """
    seconds = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                text = file.read()
        except OSError:
            continue
        # The name sits in parentheses and may itself hold spaces.
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        # utime and stime are fields 14 and 15 of stat, 12 and 13 of rest.
        used = (int(rest[11]) + int(rest[12])) / TICKS_PER_SECOND
        seconds[int(entry)] = (name, used)
    return seconds


@dataclass
class CpuReading:
    """Other processes' CPU use over one interval."""

    seconds: float
    others_cores: float
    top: list = field(default_factory=list)


class CpuMeter:
    """Measures other processes' CPU use between ``start`` and ``stop``.

    Parameters
    ----------
    per_process : bool
        Also name the busiest other processes (reads every
        /proc/<pid>/stat at both ends, about a millisecond).
    """

    def __init__(self, per_process=False):
        self.per_process = per_process

    def start(self):
        self._wall = time.perf_counter()
        self._busy = _machine_busy_seconds()
        self._own = _own_seconds()
        self._processes = _process_seconds() if self.per_process else None

    def stop(self):
        wall = time.perf_counter() - self._wall
        busy = _machine_busy_seconds() - self._busy
        own = _own_seconds() - self._own
        others = max(busy - own, 0.0) / max(wall, 1e-9)
        top = []
        if self._processes is not None:
            top = _busiest(self._processes, _process_seconds(), wall)
        return CpuReading(seconds=wall, others_cores=others, top=top)


def _busiest(before, after, wall, count=3):
    mine = os.getpid()
    used = []
    for pid, (name, seconds) in after.items():
        if pid == mine:
            continue
        # A process that started during the interval counts from 0.
        delta = seconds - before.get(pid, (name, 0.0))[1]
        if delta > 0:
            used.append((delta / wall, pid, name))
    used.sort(reverse=True)
    return [
        {"pid": pid, "name": name, "cores": round(cores, 3)}
        for cores, pid, name in used[:count]
    ]


@dataclass
class QuietWait:
    """What ``wait_for_quiet`` found."""

    waited_s: float
    quiet: bool
    others_cores: float
    top: list

    def as_dict(self):
        return asdict(self)


def wait_for_quiet(threshold=0.15, max_wait=30.0, sample=0.25):
    """Wait until other processes use less than ``threshold`` cores.

    Samples the machine for ``sample`` seconds at a time, until one sample
    is quiet or ``max_wait`` seconds have passed. The sampling is a sleep,
    so it also lets this process's own BLAS threads stop spinning.

    Returns
    -------
    QuietWait
        How long it waited, whether the last sample was quiet, the other
        processes' use in that sample and the busiest of them.
    """
    meter = CpuMeter(per_process=True)
    started = time.perf_counter()
    while True:
        meter.start()
        time.sleep(sample)
        reading = meter.stop()
        waited = time.perf_counter() - started
        quiet = reading.others_cores < threshold
        if quiet or waited >= max_wait:
            return QuietWait(
                waited_s=round(waited, 2),
                quiet=quiet,
                others_cores=round(reading.others_cores, 3),
                top=reading.top,
            )
