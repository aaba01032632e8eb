"""Where the test suite's time goes: a pytest plugin that records, per test, how many XLA
programs were compiled and how long their backend compilation took, and a summary of the records.

Compilation dominates ``make test``; this finds the programs worth making cheaper::

    PYTHONPATH=benchmarks .venv/bin/python -m pytest -n 2 -q -p compile_profile  # writes records
    .venv/bin/python benchmarks/compile_profile.py                                # summarizes them

Each worker appends one JSON line per test to ``$COMPILE_PROFILE_DIR/<pid>.jsonl`` (default:
``mnj_compile_profile`` in the system's temporary folder; empty it between runs): the test's
id, its wall time, the number of backend compilations and their total duration (JAX's
``/jax/core/compile/backend_compile_duration`` events; a persistent-cache hit compiles nothing
and counts nothing), the time spent tracing to jaxprs and lowering them to StableHLO, and the
name and compile time of each program that took more than a second. Subprocesses (the
notebooks, the multi-device check) are not seen.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import tempfile
import time

import jax
import pytest

OUT = pathlib.Path(
    os.environ.get(
        "COMPILE_PROFILE_DIR", pathlib.Path(tempfile.gettempdir()) / "mnj_compile_profile"
    )
)
_totals = {"count": 0, "seconds": 0.0, "trace": 0.0, "lower": 0.0}
_slow: list[list] = []  # [name, seconds] of each program whose compilation took over a second
_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
}


def _on_duration(event: str, duration: float, fun_name: str = "?", **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _totals["count"] += 1
        _totals["seconds"] += duration
        if duration > 1.0:
            _slow.append([fun_name, round(duration, 2)])
    elif event in _EVENTS:
        _totals[_EVENTS[event]] += duration


def pytest_configure(config) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    jax.monitoring.register_event_duration_secs_listener(_on_duration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    before, start = dict(_totals), time.perf_counter()
    _slow.clear()
    yield
    record = {
        "test": item.nodeid,
        "wall": time.perf_counter() - start,
        "compiles": _totals["count"] - before["count"],
        "compile": _totals["seconds"] - before["seconds"],
        "trace": _totals["trace"] - before["trace"],
        "lower": _totals["lower"] - before["lower"],
        "slow": list(_slow),
    }
    with open(OUT / f"{os.getpid()}.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def summarize(records: list[dict], top: int = 25) -> str:
    """Totals, then the tests and the test functions (parameters pooled) with the most time."""
    wall = sum(r["wall"] for r in records)
    compile_ = sum(r["compile"] for r in records)
    trace = sum(r.get("trace", 0.0) + r.get("lower", 0.0) for r in records)
    lines = [
        f"{len(records)} tests: {wall:.0f} s of test time summed over the workers, "
        f"{compile_:.0f} s ({compile_ / max(wall, 1e-9):.0%}) in backend compilation, "
        f"{sum(r['compiles'] for r in records)} compilations; {trace:.0f} s tracing and lowering",
        "",
        "   wall  compile     n  test",
    ]
    for r in sorted(records, key=lambda r: -r["wall"])[:top]:
        lines.append(f"{r['wall']:7.1f} {r['compile']:8.1f} {r['compiles']:5d}  {r['test']}")
    pooled = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for r in records:
        p = pooled[r["test"].split("[")[0]]
        p[0], p[1], p[2] = p[0] + r["wall"], p[1] + r["compile"], p[2] + 1
    lines += ["", "   wall  compile  tests  test function"]
    for name, (w, c, n) in sorted(pooled.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{w:7.1f} {c:8.1f} {n:6d}  {name}")
    slow = collections.defaultdict(lambda: [0.0, 0])
    for r in records:
        for name, seconds in r.get("slow", []):
            slow[name][0] += seconds
            slow[name][1] += 1
    lines += ["", "compile  programs  name (programs over a second, pooled by name)"]
    for name, (s, n) in sorted(slow.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{s:7.1f} {n:9d}  {name}")
    return "\n".join(lines)


if __name__ == "__main__":
    records = [json.loads(line) for path in OUT.glob("*.jsonl") for line in path.open()]
    print(summarize(records) if records else f"no records in {OUT}")
