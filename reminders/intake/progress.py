"""Progress on stderr for long imports: one line per stage, with counts and a rate.

Silent when stderr is not a terminal (scripts read `--json`) or for small files.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

MIN_TOTAL = 1000
WIDTH = 30
# What each stage of an import counts, in staff's words.
STAGES = {
    "rows": ("validating and writing", "rows"),
    "planning": ("planning", "patients"),
}


def bar(
    label: str,
    *,
    unit: str = "",
    min_total: int = MIN_TOTAL,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[int, int], None]:
    """Return a `progress(done, total)` callback that redraws
    `label [####------]  45% 450/1000 rows, 150/s`."""
    started: list[float] = []

    def draw(done: int, total: int) -> None:
        out = stream or sys.stderr
        if total < min_total or not out.isatty():
            return
        now = clock()
        if not started:
            started.append(now)
        elapsed = now - started[0]
        rate = f", {done / elapsed:.0f}/s" if elapsed > 0 else ""
        filled = WIDTH * done // total
        line = f"\r{label} [{'#' * filled}{'-' * (WIDTH - filled)}] {100 * done // total:3d}%"
        out.write(f"{line} {done}/{total}{' ' + unit if unit else ''}{rate}")
        if done >= total:
            out.write("\n")
        out.flush()

    return draw


def stages(*, stream: TextIO | None = None) -> Callable[[str, int, int], None]:
    """Return a `stage(name, done, total)` callback: a bar for each stage of an import.

    A file big enough for the first bar gets every later one (fewer patients than rows).
    """
    bars: dict[str, Callable[[int, int], None]] = {}
    big: list[bool] = []

    def report(name: str, done: int, total: int) -> None:
        if name not in bars:
            label, unit = STAGES.get(name, (name, ""))
            bars[name] = bar(label, unit=unit, min_total=0 if big else MIN_TOTAL, stream=stream)
        if total >= MIN_TOTAL and not big:
            big.append(True)
        bars[name](done, total)

    return report
