"""A one-line stderr progress bar for long imports; silent when piped or for small files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

MIN_TOTAL = 1000
WIDTH = 30


def bar(label: str, *, stream: TextIO | None = None) -> Callable[[int, int], None]:
    """Return a `progress(done, total)` callback that redraws `label [####------] 45% 450/1000`."""

    def draw(done: int, total: int) -> None:
        out = stream or sys.stderr
        if total < MIN_TOTAL or not out.isatty():
            return
        filled = WIDTH * done // total
        line = f"\r{label} [{'#' * filled}{'-' * (WIDTH - filled)}] {100 * done // total:3d}%"
        out.write(f"{line} {done}/{total}")
        if done >= total:
            out.write("\n")
        out.flush()

    return draw
