"""Resource snapshots: CPU, memory, this process, open files, and what the
toolkit itself holds (caches, tracked allocations).

``snapshot()`` is one reading as a plain dict (JSON-ready); ``format_snapshot``
renders it as the text ``admf-perf report`` prints.  ``ResourceMonitor`` is the
small reading the :class:`~admf_perf.executor.ResourceAwareExecutor` polls:
CPU percent, memory percent, RSS and the MemoryManager's pressure verdict; the
executor accepts any object with the same ``sample()`` method, which is how
its tests inject pressure on cue.

Every reading comes from psutil.  CPU percentages are measured over
``interval`` seconds (psutil's ``cpu_percent(interval)``, blocking that long);
``interval=None`` compares with the previous call instead (the first call of
a process then reports 0.0, as psutil documents).
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from .._validate import check_real
from ..caching.registry import CacheManager
from .memory import MemoryManager

__all__ = ["ResourceMonitor", "ResourceSample", "format_snapshot", "snapshot"]


def _safe(fn: Any, default: Any = None) -> Any:
    """``fn()``, or ``default`` where the platform or permissions refuse it."""
    try:
        return fn()
    except (psutil.Error, OSError, AttributeError, NotImplementedError):
        return default


def snapshot(interval: float | None = 0.1) -> dict[str, Any]:
    """One reading of the machine, this process and the toolkit.

    Keys: ``time`` (ISO 8601, UTC), ``cpu`` (count, usable, percent, per_cpu,
    load_avg), ``memory`` (the MemoryManager's ``memory_usage()`` plus
    ``pressure_high`` and the thresholds), ``process`` (pid, rss, vms, cpu
    percent, threads, open files and their paths, file descriptors),
    ``toolkit`` (registered caches with hits/misses/size, tracked allocations).
    """
    interval = check_real(interval, "interval", minimum=0, allow_none=True, what="a number of seconds")
    proc = psutil.Process()
    _safe(lambda: proc.cpu_percent(None))          # prime the process counter
    system_percent = psutil.cpu_percent(interval)  # blocks ``interval`` seconds
    per_cpu = psutil.cpu_percent(None, percpu=True)
    process_percent = _safe(lambda: proc.cpu_percent(None), 0.0)
    manager = MemoryManager.get_instance()
    usage = manager.memory_usage()
    open_files = _safe(proc.open_files, [])
    caches = {}
    for name, stats in CacheManager.get_instance().get_stats().items():
        caches[name] = {key: getattr(stats, key) for key in ("hits", "misses", "size", "max_size", "hit_rate")
                        if hasattr(stats, key)} if not isinstance(stats, dict) else dict(stats)
    return {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {"platform": platform.platform(), "python": platform.python_version(),
                 "executable": sys.executable},
        "cpu": {
            "count": psutil.cpu_count(),
            "physical": psutil.cpu_count(logical=False),
            "usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else psutil.cpu_count(),
            "percent": system_percent,
            "per_cpu": per_cpu,
            "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "interval": interval,
        },
        "memory": {
            **usage,
            "pressure_high": manager.is_memory_pressure_high(usage),
            "threshold_percent": manager.threshold_percent,
            "threshold_rss": manager.threshold_rss,
        },
        "process": {
            "pid": proc.pid,
            "rss": usage["rss"],
            "vms": usage["vms"],
            "cpu_percent": process_percent,
            "threads": _safe(proc.num_threads),
            "fds": _safe(proc.num_fds) if hasattr(proc, "num_fds") else None,
            "open_files": len(open_files),
            "open_file_paths": [f.path for f in open_files],
            "started": datetime.datetime.fromtimestamp(proc.create_time(), datetime.UTC)
                        .isoformat(timespec="seconds"),
        },
        "toolkit": {"caches": caches, "tracked": manager.tracked()},
    }


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.1f} MB"


def format_snapshot(snap: dict[str, Any]) -> str:
    """The text ``admf-perf report`` prints for a :func:`snapshot`."""
    cpu, mem, proc, kit = snap["cpu"], snap["memory"], snap["process"], snap["toolkit"]
    load = ", ".join(f"{x:.2f}" for x in cpu["load_avg"]) if cpu["load_avg"] else "-"
    per_cpu = " ".join(f"{p:.0f}%" for p in cpu["per_cpu"])
    pressure = "HIGH" if mem["pressure_high"] else "normal"
    thresholds = []
    if mem["threshold_percent"] is not None:
        thresholds.append(f"{mem['threshold_percent']:g}% of system memory")
    if mem["threshold_rss"] is not None:
        thresholds.append(f"RSS {_mb(mem['threshold_rss'])}")
    lines = [
        f"admf-perf report  {snap['time']}  ({snap['host']['platform']}, Python {snap['host']['python']})",
        "",
        f"cpu      {cpu['count']} logical ({cpu['physical']} physical, {cpu['usable']} usable); "
        f"{cpu['percent']:.1f}% busy [{per_cpu}]; load average {load}",
        f"memory   {_mb(mem['system_total'])} total, {_mb(mem['system_available'])} available, "
        f"{mem['system_percent']:.1f}% used; pressure {pressure} (threshold: {' or '.join(thresholds)})",
        f"process  pid {proc['pid']}: RSS {_mb(proc['rss'])}, VMS {_mb(proc['vms'])}, "
        f"cpu {proc['cpu_percent']:.1f}%, {proc['threads']} threads, {proc['fds']} fds, "
        f"{proc['open_files']} open files",
    ]
    lines += [f"           {path}" for path in proc["open_file_paths"][:20]]
    tracked = kit["tracked"]
    lines.append(f"toolkit  {len(kit['caches'])} registered caches/calculators; "
                 f"{tracked['count']} tracked allocations, {_mb(tracked['bytes'])}")
    for name, stats in kit["caches"].items():
        if "hits" in stats:
            lines.append(f"           {name}: {stats.get('size', '-')} entries, {stats['hits']} hits, "
                         f"{stats['misses']} misses ({stats.get('hit_rate', 0.0):.1%})")
    return "\n".join(lines)


@dataclass(frozen=True)
class ResourceSample:
    """One reading for scheduling decisions (percentages 0-100, bytes)."""

    time: float
    cpu_percent: float
    memory_percent: float
    rss: int
    memory_pressure: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResourceMonitor:
    """Cheap, non-blocking readings for a scheduler.

    ``sample()`` returns a :class:`ResourceSample`: system CPU percent since
    the previous sample (psutil, non-blocking), system memory percent, this
    process's RSS, and ``MemoryManager.is_memory_pressure_high()``.
    """

    def __init__(self, memory: MemoryManager | None = None) -> None:
        self.memory = memory if memory is not None else MemoryManager.get_instance()
        psutil.cpu_percent(None)  # start the CPU interval now

    def sample(self) -> ResourceSample:
        usage = self.memory.memory_usage()
        return ResourceSample(time=time.monotonic(), cpu_percent=float(psutil.cpu_percent(None)),
                              memory_percent=float(usage["system_percent"]), rss=int(usage["rss"]),
                              memory_pressure=bool(self.memory.is_memory_pressure_high(usage)))
