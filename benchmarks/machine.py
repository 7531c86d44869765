"""One line describing the machine a benchmark ran on (shared by every script here)."""

from __future__ import annotations

import os
import platform

import torch


def cpu_model() -> str:
    """lscpu's "Model name", read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line(threads: object = None) -> str:
    """CPU model, cores, AMX, torch version, threads, Python and the current load."""
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average ?"
    threads = threads if threads is not None else torch.get_num_threads()
    return (f"cpu: {cpu_model()}, {os.cpu_count()} logical cores, AMX {'yes' if amx else 'no'}; "
            f"torch {torch.__version__}; threads {threads}; Python {platform.python_version()}; {load}")
