"""Follow-ups that keep a series on track: after-care, rebook nudges, missed-session notes
and the end of the series.

Like session reminders they are planned rows in the message log, recomputed whenever the
series changes and re-checked at send time against where the series then stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import Settings
from reminders.journal import record
from reminders.kinds import FOLLOW_UPS
from reminders.models import Message, MessageStatus, Patient, Series, Session, SessionStatus
from reminders.planning.quiet_hours import sms_due, wall_clock_shift
from reminders.planning.standing import SeriesStatus, Standing, assess

WAITING = (SeriesStatus.ACTIVE, SeriesStatus.DRIFTING)

Key = tuple[int, str, datetime]


@dataclass(frozen=True)
class FollowUp:
    session: Session  # the visit it is about
    kind: str
    rule: str  # unique per visit: "aftercare", "rebook_nudge-1", ...
    channel: str
    due_at: datetime
    expires_at: datetime

    @property
    def key(self) -> Key:
        return (self.session.id, self.rule, self.session.starts_at)


def reachable_channels(settings: Settings, patient: Patient) -> list[str]:
    """The clinic's preferred follow-up channel first, then the other; only those that work."""
    preferred = settings.followups.channel
    order = [preferred, "sms" if preferred == "email" else "email"]
    return [c for c in order if patient.address_for(c) and not _opted_out(patient, c)]


def _opted_out(patient: Patient, channel: str) -> bool:
    """All messages on the channel, or (email) follow-ups alone: session reminders still go."""
    if channel == "email" and patient.followup_email_opt_out:
        return True
    return patient.opted_out_of(channel)


def wanted(settings: Settings, series: Series, now: datetime) -> list[FollowUp]:
    """Every follow-up the series calls for as it stands now, stale ones left out."""
    channels = reachable_channels(settings, series.patient)
    if not settings.followups.enabled or series.paused or not channels:
        return []
    standing = assess(settings, series, now)
    plans = [
        *_aftercare(settings, series, standing, channels[0]),
        *_missed(settings, series, channels[0]),
        *_nudges(settings, standing, channels),
    ]
    if standing.final is not None:
        due = _day_after(settings, standing.final.starts_at)
        plans.append(_follow_up(settings, standing.final, "series_complete", "", channels[0], due))
    return [plan for plan in plans if plan.expires_at > now]


def _aftercare(
    settings: Settings, series: Series, standing: Standing, channel: str
) -> list[FollowUp]:
    return [
        _follow_up(settings, s, "aftercare", "", channel, _day_after(settings, s.starts_at))
        for s in series.sessions
        if s.status == SessionStatus.COMPLETED
        and s is not standing.final
        and s.number < series.planned_sessions
    ]


def _missed(settings: Settings, series: Series, channel: str) -> list[FollowUp]:
    after = timedelta(hours=settings.followups.missed_after_hours)
    return [
        _follow_up(
            settings,
            s,
            "missed_session",
            "",
            channel,
            s.starts_at + timedelta(minutes=s.duration_minutes) + after,
        )
        for s in series.sessions
        if s.status == SessionStatus.NO_SHOW
    ]


def _nudges(settings: Settings, standing: Standing, channels: list[str]) -> list[FollowUp]:
    """Two nudges to book, the second by the other channel, while nothing is booked."""
    visit, since = standing.last_visit, standing.gap_since
    if standing.status not in WAITING or standing.next_booked or visit is None or since is None:
        return []
    step, zone = timedelta(days=settings.followups.nudge_after_days), settings.clinic.zone
    second = channels[1] if len(channels) > 1 else channels[0]
    return [
        _follow_up(
            settings, visit, "rebook_nudge", "-1", channels[0], wall_clock_shift(since, step, zone)
        ),
        _follow_up(
            settings, visit, "rebook_nudge", "-2", second, wall_clock_shift(since, 2 * step, zone)
        ),
    ]


def _day_after(settings: Settings, moment: datetime) -> datetime:
    zone, at = settings.clinic.zone, settings.followups.send_at
    day = moment.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _follow_up(
    settings: Settings, session: Session, kind: str, suffix: str, channel: str, due: datetime
) -> FollowUp:
    # Follow-ups wait out the quiet hours on every channel: none is urgent.
    due = sms_due(settings.quiet_hours, settings.clinic.zone, due, None)
    shelf = timedelta(days=settings.followups.shelf_life_days)
    return FollowUp(session, kind, kind + suffix, channel, due, due + shelf)


def why_not_wanted(settings: Settings, series: Series, now: datetime) -> str:
    """Why a series no longer calls for a follow-up, in staff's words."""
    standing = assess(settings, series, now)
    if not settings.followups.enabled:
        return "follow-ups are turned off"
    if standing.status in (SeriesStatus.PAUSED, SeriesStatus.COMPLETE):
        return f"series {standing.status}"
    if standing.next_booked is not None:
        return f"next session booked ({standing.next_booked.external_id})"
    if not reachable_channels(settings, series.patient):
        return "patient cannot be reached by email or sms"
    return "no longer applies"


def still_wanted(settings: Settings, message: Message, now: datetime) -> str | None:
    """None when the follow-up still applies at send time, else why it does not."""
    series = message.session.series
    keys = {plan.key for plan in wanted(settings, series, now)}
    key = (message.session_id, message.rule or "", message.planned_for)
    return None if key in keys else why_not_wanted(settings, series, now)


def plan_followups(db: DB, settings: Settings, series: Series, now: datetime) -> int:
    """Bring the series' planned follow-ups in line with where it stands; rows changed."""
    plans = {plan.key: plan for plan in wanted(settings, series, now)}
    changed = 0
    for session in series.sessions:
        for message in session.messages:
            if message.kind not in FOLLOW_UPS or message.planned_for is None:
                continue
            plan = plans.pop((session.id, message.rule or "", message.planned_for), None)
            if plan is not None:
                changed += _keep(db, message, plan, now)
            elif message.status == MessageStatus.PLANNED:
                reason = why_not_wanted(settings, series, now)
                record(db, message, MessageStatus.CANCELLED, reason, now)
                changed += 1
    for plan in plans.values():
        _insert(db, plan, now)
        changed += 1
    return changed


def _keep(db: DB, message: Message, plan: FollowUp, now: datetime) -> int:
    if message.status not in (MessageStatus.PLANNED, MessageStatus.CANCELLED):
        return 0
    same = (message.due_at, message.expires_at, message.channel) == (
        plan.due_at,
        plan.expires_at,
        plan.channel,
    )
    if same and message.status == MessageStatus.PLANNED:
        return 0
    message.due_at, message.expires_at, message.channel = plan.due_at, plan.expires_at, plan.channel
    reason = "planned again" if message.status == MessageStatus.CANCELLED else "replanned"
    record(db, message, MessageStatus.PLANNED, reason, now)
    return 1


def _insert(db: DB, plan: FollowUp, now: datetime) -> None:
    message = Message.planned(
        plan.session,
        kind=plan.kind,
        rule=plan.rule,
        channel=plan.channel,
        due_at=plan.due_at,
        expires_at=plan.expires_at,
        before_session=False,
        now=now,
    )
    db.add(message)
    record(db, message, MessageStatus.PLANNED, f"follow-up {plan.kind}", now)


def set_paused(settings: Settings, series_id: str, paused: bool, now: datetime) -> int:
    """Staff pause or resume a series' follow-ups; returns the planned rows changed."""
    with store.transaction(settings.database_url) as db:
        series = db.scalars(select(Series).where(Series.external_id == series_id)).one_or_none()
        if series is None:
            raise LookupError(f"no series {series_id!r}")
        series.paused = paused
        return plan_followups(db, settings, series, now)
