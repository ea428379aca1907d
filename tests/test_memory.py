"""MemoryManager: readings, weak tracking, thresholds, pressure relief."""
import gc

import numpy as np
import pandas as pd
import psutil
import pytest


@pytest.fixture
def mm(ap):
    return ap.memory.MemoryManager()


def test_memory_usage_reads_psutil(mm):
    usage = mm.memory_usage()
    assert {"rss", "vms", "system_total", "system_available", "system_percent"} <= set(usage)
    assert 0 < usage["rss"] <= usage["vms"]
    assert usage["system_total"] == psutil.virtual_memory().total
    assert 0 <= usage["system_percent"] <= 100


def test_tracking_is_weak_and_sized(ap, mm):
    class Blob:
        pass

    array = np.zeros(1000)                          # 8,000 bytes
    frame = pd.DataFrame({"a": np.arange(100, dtype=np.int64)})
    blob = Blob()
    assert mm.track_allocation(array) == 8000
    assert mm.track_allocation(frame) == int(frame.memory_usage(deep=True).sum())
    assert mm.track_allocation(blob, size=123) == 123
    assert mm.tracked() == {"count": 3, "bytes": 8000 + frame.memory_usage(deep=True).sum() + 123}
    del array, blob
    gc.collect()
    assert mm.tracked()["count"] == 1
    with pytest.raises(TypeError, match="weak"):
        mm.track_allocation(5)
    with pytest.raises(ValueError, match="size"):
        mm.track_allocation(frame, size=-1)
    with pytest.raises(TypeError, match="size"):
        mm.track_allocation(frame, size=1.5)


def test_thresholds(mm):
    usage = {"rss": 1000, "vms": 2000, "system_total": 10, "system_available": 5,
             "system_percent": 50.0}
    mm.set_threshold(percent=60)
    assert not mm.is_memory_pressure_high(usage)
    mm.set_threshold(percent=50)
    assert mm.is_memory_pressure_high(usage)
    mm.set_threshold(rss=1000)
    assert mm.is_memory_pressure_high(usage) and mm.threshold_percent is None
    mm.set_threshold(rss=1001)
    assert not mm.is_memory_pressure_high(usage)
    for bad in [{"percent": 0}, {"percent": 101}, {"percent": float("nan")}, {"rss": 0}, {}]:
        with pytest.raises(ValueError):
            mm.set_threshold(**bad)
    for bad in [{"rss": 1.5}, {"percent": "50"}, {"percent": True}]:  # types: TypeError
        with pytest.raises(TypeError, match="percent|rss"):
            mm.set_threshold(**bad)


def test_release_clears_caches_pools_and_calls_back(ap, mm):
    cache = ap.Cache(16, name="pressure-test")
    cache["k"] = 1

    class Pool:
        def __init__(self):
            self.idle = [object(), object()]

        def clear(self):
            n, self.idle = len(self.idle), []
            return n

    pool = Pool()
    mm.register_pool(pool)
    reports = []
    mm.on_pressure(reports.append)
    freed = mm.release_memory_pressure()
    assert freed >= 0 and len(cache) == 0 and pool.idle == []
    assert reports and reports[0]["pooled_objects_dropped"] == 2
    with pytest.raises(TypeError, match="callback"):
        mm.on_pressure(42)


def test_pressure_clears_caches_but_keeps_calculator_state(ap, mm):
    """Under pressure only what can be computed again is dropped: a risk
    calculator's returns (the user's data) survive; clear_all still resets."""
    risk = ap.CachingRiskCalculator()
    for equity in (100.0, 101.0, 99.5, 102.0):
        risk.update(equity)
    sharpe = risk.sharpe_ratio()
    mm.release_memory_pressure()
    assert risk.sharpe_ratio() == sharpe and risk.count == 3
    ap.CacheManager.get_instance().clear_all()
    assert risk.count == 0


def test_get_instance_is_shared(ap):
    assert ap.memory.MemoryManager.get_instance() is ap.memory.MemoryManager.get_instance()


def test_object_pools_register_and_are_cleared_under_pressure(ap):
    pool = ap.pool.ObjectPool(list, max_size=4)
    items = [pool.acquire() for _ in range(3)]
    for item in items:
        pool.release(item)
    assert pool.stats()["idle"] == 3
    ap.memory.MemoryManager.get_instance().release_memory_pressure()
    assert pool.stats()["idle"] == 0
