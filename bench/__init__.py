"""`make bench` (``python -m bench``): benchmark sections, each printing a table and writing JSON.

A section is a function registered with ``@section("name")`` in a module listed in
``SECTION_MODULES``; it receives the parsed command-line options and returns what it
measured, which lands in ``bench/results/<name>.json``. Later issues add their module to
the list.
"""

import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SECTION_MODULES = [
    "bench.search",
    "bench.placement",
    "bench.handover",
    "bench.stats",
    "bench.picking",
    "bench.notices",
    "bench.signin",
]
SECTIONS: dict[str, Callable] = {}


def section(name: str):
    def register(run: Callable) -> Callable:
        SECTIONS[name] = run
        return run

    return register


def time_ms(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least p % of them at or below it."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(samples: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "max_ms": round(max(samples), 2),
        "n": len(samples),
    }


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(padded))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def write_results(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return path
