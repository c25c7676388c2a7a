"""The adherence page: how well the clinic's series keep their rhythm, overall, by treatment
and by practitioner, with server-rendered SVG charts. The figures come from
`reminders.staff.adherence`; this module only lays them out.

They count every session the clinic ever had (seconds at a million sessions), and change
little in a day: the page shows the figures counted at most FRESH ago, and once they are
older shows them while it counts again in the background. The page names the moment they
were counted. `reminders web` counts them once as it starts (`count_at_start`), so only a
view in its first seconds waits for them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from reminders.config import Settings
from reminders.staff.adherence import Adherence, Figures, MonthDrift, adherence
from reminders.web.deps import Staff, now_of, settings_of
from reminders.web.pages.shared import here, local, show

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

FRESH = timedelta(minutes=5)

CHART_WIDTH = 720
MONTHS_HEIGHT = 180
_PLOT_TOP, _PLOT_BOTTOM, _PLOT_LEFT = 16, 140, 44
BAR_WIDTH = 160  # the rate bars in the tables

# The rates drawn as bars, with whether more is better (drift and no-shows are not).
RATES = (
    ("completion_rate", "Series completed", True),
    ("in_window_share", "Sessions in the target window", True),
    ("drift_rate", "Waits that drifted", False),
    ("no_show_rate", "No-shows", False),
    ("nudge_follow_rate", "Nudges followed by a booking in 14 days", True),
)


@dataclass(frozen=True)
class MonthBar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str  # "31% · 5/16" above the bar
    title: str


@dataclass(frozen=True)
class MonthChart:
    width: int
    height: int
    bars: list[MonthBar]
    gridlines: list[tuple[float, str]]  # y, label
    baseline: float


@dataclass(frozen=True)
class RateBar:
    name: str
    label: str
    text: str  # "75% (3 of 4)"
    width: float  # of BAR_WIDTH; 0 when there is nothing to count
    good: bool | None  # None when there is nothing to count
    counted: bool


@dataclass(frozen=True)
class GroupRow:
    name: str
    figures: Figures
    rates: list[RateBar]
    interval: str  # "median 24.5 days against 21 (3.5 late)"
    interval_bar: tuple[float, float] | None  # x of the target and of the median, 0..BAR_WIDTH


@router.get("/adherence", response_class=HTMLResponse)
def adherence_page(request: Request, user: Staff) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    figures = counted(settings, now)
    longest = _longest_interval([figures.overall, *figures.by_treatment, *figures.by_practitioner])
    return show(
        request,
        "adherence.html",
        user=user,
        here=here(request),
        as_of=local(figures.as_of, settings.clinic.zone),
        figures=figures,
        overall=_row(figures.overall, longest),
        months=month_chart(figures.overall.drift_by_month),
        treatments=[_row(f, longest) for f in figures.by_treatment],
        practitioners=[_row(f, longest) for f in figures.by_practitioner],
        rates=RATES,
        bar_width=BAR_WIDTH,
    )


_counted: dict[tuple[str, str], Adherence] = {}
_counting: set[tuple[str, str]] = set()
_lock = threading.Lock()


def counted(settings: Settings, now: datetime) -> Adherence:
    """The figures counted at most FRESH before `now`, or older ones while they are counted
    again in the background; counted while the caller waits only when there are none (or
    they are from after `now`: a clock set back)."""
    key = _key(settings)
    with _lock:
        kept = _counted.get(key)
    if kept is None or kept.as_of > now:
        return _count(key, settings, now)
    if now - kept.as_of >= FRESH:
        _count_in_background(key, settings, now)
    return kept


def count_at_start(settings: Settings, now: datetime) -> None:
    """Count the figures in the background now, so that the first view need not wait."""
    _count_in_background(_key(settings), settings, now)


def _key(settings: Settings) -> tuple[str, str]:
    return (settings.database_url, settings.followups.model_dump_json())


def _count_in_background(key: tuple[str, str], settings: Settings, now: datetime) -> None:
    with _lock:
        start = key not in _counting
        _counting.add(key)
    if start:
        threading.Thread(target=_count_behind, args=(key, settings, now), daemon=True).start()


def _count(key: tuple[str, str], settings: Settings, now: datetime) -> Adherence:
    figures = adherence(settings, now)
    with _lock:
        _counted[key] = figures
    return figures


def _count_behind(key: tuple[str, str], settings: Settings, now: datetime) -> None:
    try:
        _count(key, settings, now)
    except Exception:  # the page keeps the figures it has; the next view tries again
        log.exception("counting the adherence figures failed")
    finally:
        with _lock:
            _counting.discard(key)


def month_chart(months: tuple[MonthDrift, ...]) -> MonthChart:
    """Bars of the drift rate per month, on a 0-100% scale."""
    inner_width = CHART_WIDTH - _PLOT_LEFT - 8
    slot = inner_width / max(len(months), 1)
    span = _PLOT_BOTTOM - _PLOT_TOP
    bars = []
    for i, month in enumerate(months):
        rate = month.rate or 0.0
        height = round(span * rate, 1)
        bars.append(
            MonthBar(
                x=round(_PLOT_LEFT + i * slot + slot * 0.15, 1),
                y=round(_PLOT_BOTTOM - height, 1),
                width=round(slot * 0.7, 1),
                height=height,
                label=month.month,
                value=f"{_percent(month.rate)} · {month.drifted}/{month.waits}",
                title=f"{month.month}: {_percent(month.rate)} "
                f"({month.drifted} of {month.waits} waits ran past target + tolerance)",
            )
        )
    grid = [(round(_PLOT_BOTTOM - span * q, 1), f"{q:.0%}") for q in (0, 0.25, 0.5, 0.75, 1)]
    return MonthChart(CHART_WIDTH, MONTHS_HEIGHT, bars, grid, _PLOT_BOTTOM)


def _row(figures: Figures, longest: float) -> GroupRow:
    return GroupRow(
        name=figures.name,
        figures=figures,
        rates=[_rate_bar(figures, name, label, better) for name, label, better in RATES],
        interval=_interval_text(figures),
        interval_bar=_interval_bar(figures, longest),
    )


def _rate_bar(figures: Figures, name: str, label: str, more_is_better: bool) -> RateBar:
    rate: float | None = getattr(figures, name)
    part, whole = _counts(figures, name)
    if rate is None:
        return RateBar(name, label, "nothing to count yet", 0.0, None, False)
    good = rate >= 0.8 if more_is_better else rate <= 0.2
    return RateBar(
        name, label, f"{_percent(rate)} ({part} of {whole})", round(BAR_WIDTH * rate, 1), good, True
    )


def _counts(f: Figures, name: str) -> tuple[int, int]:
    return {
        "completion_rate": (f.series_complete, f.series_started),
        "in_window_share": (f.in_window, f.intervals),
        "drift_rate": (f.drifted, f.waits),
        "no_show_rate": (f.no_shows, f.no_shows + f.sessions_completed),
        "nudge_follow_rate": (f.nudge_followed, f.nudged),
    }[name]


def _interval_text(f: Figures) -> str:
    if f.median_interval_days is None or f.median_target_days is None:
        return "no interval yet"
    off = f.median_days_off_target or 0.0
    side = "on target" if off == 0 else f"{abs(off):g} days {'late' if off > 0 else 'early'}"
    return (
        f"median {f.median_interval_days:g} days against {f.median_target_days:g} "
        f"({side}; {f.intervals} intervals)"
    )


def _interval_bar(f: Figures, longest: float) -> tuple[float, float] | None:
    if f.median_interval_days is None or f.median_target_days is None or not longest:
        return None
    scale = BAR_WIDTH / longest
    return round(f.median_target_days * scale, 1), round(f.median_interval_days * scale, 1)


def _longest_interval(groups: list[Figures]) -> float:
    values = [
        v for f in groups for v in (f.median_interval_days, f.median_target_days) if v is not None
    ]
    return max(values, default=0.0) * 1.2


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"
