"""What Twilio tells us: delivery status callbacks, and the SMS replies patients send.

Status only moves forward (queued < sending < sent < delivered; sent < undelivered/failed).
A reply is stored once per MessageSid, classified, acted on (opt-out, opt-in, confirm,
reschedule request) and answered at most once; staff see reschedule requests and free text.
No web code here; nothing logged carries a phone number, a name or a message body.
"""

from __future__ import annotations

import logging
import string
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload

from reminders import store
from reminders.channels import channel_for
from reminders.channels.base import ChannelError, Outgoing
from reminders.config import Settings
from reminders.intake.importer import replan_patients
from reminders.journal import record
from reminders.models import (
    InboundMessage,
    Message,
    MessageStatus,
    Patient,
    Series,
    Session,
    SessionStatus,
)
from reminders.planning.planner import UPCOMING
from reminders.sending.dispatch import send_claimed

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- status callbacks

# Twilio's statuses in the order a message goes through them; the last rank is final.
_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
}
_OURS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}
# Our states a callback may move on from; delivered, undelivered and failed never go back.
_MOVABLE = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.UNKNOWN,
    MessageStatus.SENT,
)
# The number will not take SMS (unreachable, unknown, landline): try the patient's email.
FALLBACK_CODES = frozenset({"30003", "30005", "30006", "21614"})
FALLBACK_BY = "sms-fallback"


def apply_status(
    settings: Settings, sid: str, status: str, error_code: str, now: datetime
) -> str | None:
    """Apply one status callback; returns what happened, for the log (None: unknown SID).

    A permanent failure of a before-session SMS reminder sends it by email at once, once.
    """
    fallback: int | None = None
    with store.transaction(settings.database_url) as db:
        message = db.scalars(
            select(Message).where(Message.provider_id == sid).with_for_update()
        ).first()
        if message is None:
            return None
        outcome = _advance(db, message, status.lower(), error_code, now)
        if outcome == "moved" and _wants_fallback(message, error_code, now):
            fallback = _plan_fallback(db, message, now)
    if fallback is not None:
        send_claimed(settings, [fallback], now)
        return "moved, email fallback sent"
    return outcome


def _advance(db: DB, message: Message, status: str, error_code: str, now: datetime) -> str:
    rank = _RANK.get(status)
    if rank is None:
        return "ignored"
    if message.provider_status is not None and rank <= _RANK.get(message.provider_status, -1):
        return "stale"
    message.provider_status, message.provider_status_at = status, now
    ours = _OURS.get(status)
    if ours is None or ours == message.status or message.status not in _MOVABLE:
        return "noted"
    reason = f"Twilio: {status}" + (f" (error {error_code})" if error_code else "")
    record(db, message, ours, reason, now, actor="twilio")
    return "moved"


def _wants_fallback(message: Message, error_code: str, now: datetime) -> bool:
    if message.status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return False
    if error_code not in FALLBACK_CODES or message.channel != "sms":
        return False
    if message.kind != "session_reminder" or not message.before_session:
        return False
    session = message.session
    patient = session.series.patient
    upcoming = session.status in UPCOMING and session.starts_at > now
    return upcoming and bool(patient.email) and not patient.email_opt_out


def _plan_fallback(db: DB, sms: Message, now: datetime) -> int | None:
    """A queued email copy of the SMS reminder, unless one was made already."""
    earlier = db.scalar(
        select(Message.id).where(Message.resend_of == sms.id, Message.triggered_by == FALLBACK_BY)
    )
    if earlier is not None:
        return None
    email = Message(
        session=sms.session,
        kind="session_reminder",
        rule=None,
        channel="email",
        due_at=now,
        expires_at=sms.session.starts_at,
        before_session=True,
        attempts=0,
        claimed_at=now,
        triggered_by=FALLBACK_BY,
        resend_of=sms.id,
        created_at=now,
    )
    db.add(email)
    db.flush()
    why = f"SMS reminder {sms.id} could not be delivered ({sms.reason}): sent by email instead"
    record(db, email, MessageStatus.QUEUED, why, now)
    return email.id


# ---------------------------------------------------------------- inbound replies

OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "arret"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "aide"})
CONFIRM_WORDS = frozenset({"c"})
RESCHEDULE_WORDS = frozenset({"r"})
STAFF_INTENTS = ("reschedule", "other")

# Short answers; never suggest replying CANCEL (Twilio would take it as an opt-out).
REPLIES = {
    "en": {
        "help": "{clinic}: appointment reminders. To reach us, call {phone}. "
        "Reply STOP to opt out.",
        "confirm": "{clinic}: thank you, your appointment on {when} is confirmed.",
        "no_session": "{clinic}: we found no upcoming appointment. Please call {phone}.",
        "reschedule": "{clinic}: thank you, we will call you to find a new time.",
        "other": "{clinic}: this number is not monitored. Please call {phone}.",
    },
    "fr": {
        "help": "{clinic} : rappels de rendez-vous. Pour nous joindre, appelez le {phone}. "
        "Répondez STOP pour ne plus recevoir de textos.",
        "confirm": "{clinic} : merci, votre rendez-vous du {when} est confirmé.",
        "no_session": "{clinic} : aucun rendez-vous à venir. Appelez-nous au {phone}.",
        "reschedule": "{clinic} : merci, nous vous appellerons pour trouver une autre date.",
        "other": "{clinic} : ce numéro n'est pas surveillé. Appelez-nous au {phone}.",
        "opt_out": "{clinic} : vous ne recevrez plus de textos de notre part.",
    },
}


def normalise(body: str) -> str:
    """'  Arrêt! ' -> 'arret': no case, accents, surrounding spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", body)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.strip(string.whitespace + string.punctuation + "«»¡¿…").casefold()


def classify(body: str, opted_out: bool) -> str:
    """The reply's intent: opt_out, opt_in, help, confirm, reschedule or other."""
    word = normalise(body)
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS or (word == "oui" and opted_out):
        return "opt_in"
    if word in HELP_WORDS:
        return "help"
    if word in CONFIRM_WORDS or word == "oui":
        return "confirm"
    if word in RESCHEDULE_WORDS:
        return "reschedule"
    return "other"


@dataclass(frozen=True)
class Reply:
    to: str
    body: str
    inbound_id: int


def receive(settings: Settings, sid: str, from_phone: str, body: str, now: datetime) -> str | None:
    """Store and act on one patient reply; answer it. Returns its intent (None: seen before)."""
    try:
        with store.transaction(settings.database_url) as db:
            if _seen(db, sid):
                return None
            inbound, reply = _take_in(db, settings, sid, from_phone, body, now)
            intent = inbound.intent
    except IntegrityError:
        return None  # the same webhook, delivered twice at once: the other one stored it
    if reply is not None:
        _answer(settings, reply, now)
    return intent


def _seen(db: DB, sid: str) -> bool:
    return db.scalar(select(InboundMessage.id).where(InboundMessage.provider_id == sid)) is not None


def _take_in(
    db: DB, settings: Settings, sid: str, from_phone: str, body: str, now: datetime
) -> tuple[InboundMessage, Reply | None]:
    patients = list(
        db.scalars(select(Patient).where(Patient.phone == from_phone).order_by(Patient.id))
    )
    opted_out = any(p.sms_opt_out for p in patients)
    intent = classify(body, opted_out)
    session = _next_session(db, patients, now)
    patient = session.series.patient if session else (patients[0] if patients else None)
    inbound = InboundMessage(
        provider_id=sid,
        received_at=now,
        from_phone=from_phone,
        body=body,
        patient=patient,
        intent=intent,
    )
    db.add(inbound)
    text = _act(db, settings, inbound, patients, session, now)
    inbound.auto_reply = text
    db.flush()
    return inbound, Reply(from_phone, text, inbound.id) if text else None


def _act(
    db: DB,
    settings: Settings,
    inbound: InboundMessage,
    patients: list[Patient],
    session: Session | None,
    now: datetime,
) -> str | None:
    """Do what the reply asks; the text to answer with, if any."""
    intent = inbound.intent
    language = inbound.patient.language if inbound.patient else "en"
    if intent in ("opt_out", "opt_in"):
        # A shared number (a family) is one Twilio subscriber: the choice covers everyone on it.
        _set_sms_opt_out(db, settings, patients, intent == "opt_out", now)
        # Twilio answers its own keywords; ARRET is ours to confirm.
        french_stop = normalise(inbound.body) == "arret"
        return _text(settings, "fr", "opt_out", None) if french_stop else None
    if intent == "help":
        return _text(settings, language, "help", None)
    if intent in ("confirm", "reschedule"):
        if session is None:
            return _text(settings, language, "no_session", None)
        inbound.session = session
        if intent == "confirm":
            session.status, session.status_changed_at = SessionStatus.CONFIRMED, now
        return _text(settings, language, intent, session)
    if _replied_today(db, settings, inbound.from_phone, now):
        return None
    return _text(settings, language, "other", None)


def _set_sms_opt_out(
    db: DB, settings: Settings, patients: list[Patient], value: bool, now: datetime
) -> None:
    for patient in patients:
        patient.sms_opt_out = value
    if patients:
        db.flush()
        replan_patients(db, settings, patients, now)


def _next_session(db: DB, patients: list[Patient], now: datetime) -> Session | None:
    if not patients:
        return None
    return db.scalars(
        select(Session)
        .join(Series)
        .where(
            Series.patient_id.in_([p.id for p in patients]),
            Session.status.in_(UPCOMING),
            Session.starts_at > now,
        )
        .options(joinedload(Session.series).joinedload(Series.patient))
        .order_by(Session.starts_at, Session.id)
        .limit(1)
    ).first()


def _replied_today(db: DB, settings: Settings, from_phone: str, now: datetime) -> bool:
    """Whether this number got a 'not monitored' answer since the clinic's midnight."""
    zone = settings.clinic.zone
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    count = db.scalar(
        select(func.count(InboundMessage.id)).where(
            InboundMessage.from_phone == from_phone,
            InboundMessage.intent == "other",
            InboundMessage.auto_reply.is_not(None),
            InboundMessage.received_at >= midnight.astimezone(UTC),
        )
    )
    return bool(count)


def _text(settings: Settings, language: str, what: str, session: Session | None) -> str:
    texts = REPLIES.get(language, REPLIES["en"])
    template = texts.get(what) or REPLIES["en"][what]
    when = ""
    if session is not None:
        local = session.starts_at.astimezone(settings.clinic.zone)
        when = local.strftime("%Y-%m-%d %H:%M")
    return template.format(clinic=settings.clinic.name, phone=settings.clinic.phone, when=when)


def _answer(settings: Settings, reply: Reply, now: datetime) -> None:
    """Send the answer through the SMS channel (logged like any send); forget it if refused."""
    # Not a message row: 0 tells the channel there is no plan entry behind this text.
    outgoing = Outgoing(message_id=0, channel="sms", to=reply.to, body=reply.body, now=now)
    try:
        channel_for(settings, "sms").send(outgoing)
    except ChannelError as exc:
        log.warning("inbound %s: auto-reply not sent: %s", reply.inbound_id, exc)
        with store.transaction(settings.database_url) as db:
            inbound = db.get(InboundMessage, reply.inbound_id)
            if inbound is not None:
                inbound.auto_reply = None


# ---------------------------------------------------------------- for staff


@dataclass(frozen=True)
class StaffReply:
    id: int
    received_at: datetime
    from_phone: str
    body: str
    intent: str
    patient_id: str | None
    patient_name: str
    session_id: str | None
    session_at: datetime | None
    auto_reply: str | None


def unhandled(settings: Settings, limit: int = 200) -> list[StaffReply]:
    """Reschedule requests and free text nobody has dealt with yet, newest first."""
    with store.transaction(settings.database_url) as db:
        found = db.scalars(
            select(InboundMessage)
            .where(InboundMessage.intent.in_(STAFF_INTENTS), InboundMessage.handled_at.is_(None))
            .options(joinedload(InboundMessage.patient), joinedload(InboundMessage.session))
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(limit)
        ).all()
        return [_staff_reply(inbound) for inbound in found]


def _staff_reply(inbound: InboundMessage) -> StaffReply:
    patient, session = inbound.patient, inbound.session
    return StaffReply(
        id=inbound.id,
        received_at=inbound.received_at,
        from_phone=inbound.from_phone,
        body=inbound.body,
        intent=inbound.intent,
        patient_id=patient.external_id if patient else None,
        patient_name=f"{patient.first_name} {patient.last_name}".strip() if patient else "",
        session_id=session.external_id if session else None,
        session_at=session.starts_at if session else None,
        auto_reply=inbound.auto_reply,
    )


def mark_handled(settings: Settings, inbound_id: int, by: str, now: datetime) -> bool:
    """Take a reply off the staff list; False if there is no such reply or it was handled."""
    with store.transaction(settings.database_url) as db:
        inbound = db.get(InboundMessage, inbound_id)
        if inbound is None or inbound.handled_at is not None:
            return False
        inbound.handled_at, inbound.handled_by = now, by
        return True
