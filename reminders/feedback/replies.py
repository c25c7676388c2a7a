"""The SMS replies patients send: stored once per MessageSid, classified, acted on (opt-out,
opt-in, confirm, reschedule request) and answered at most once.

Staff see reschedule requests and free text (`staff.attention`). No web code here; nothing
logged carries a phone number, a name or a message body.
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
from reminders.feedback.self_service import ask_another_time
from reminders.models import UPCOMING, InboundMessage, Patient, Series, Session, SessionStatus
from reminders.planning.consent import set_consent
from reminders.wording.replies import reply_text

log = logging.getLogger(__name__)

# Twilio's own keywords: it opts the number out or in (and answers) before we see the reply,
# so none of them may mean anything else here. YES is an opt-in word: a patient who
# "confirms" with YES is resubscribed and told how to confirm (`_replies/confirm_hint`).
TWILIO_OPT_OUT = {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit"}
TWILIO_OPT_OUT |= {"revoke", "optout"}
TWILIO_OPT_IN = {"start", "yes", "unstop"}
TWILIO_HELP = {"help", "info"}
OPT_OUT_WORDS = frozenset(TWILIO_OPT_OUT | {"arret"})
OPT_IN_WORDS = frozenset(TWILIO_OPT_IN)
HELP_WORDS = frozenset(TWILIO_HELP | {"aide"})
# What the reminders say: C or 1 to confirm, R or 2 to reschedule; the words too. OUI is
# not a Twilio keyword, so it reaches us (accents and case are normalised away first).
CONFIRM_WORDS = frozenset({"c", "1", "confirm", "confirmer", "oui"})
RESCHEDULE_WORDS = frozenset({"r", "2", "reschedule", "deplacer", "reporter"})
TWILIO_WORDS = frozenset(TWILIO_OPT_OUT | TWILIO_OPT_IN | TWILIO_HELP)


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
    if word in CONFIRM_WORDS:
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
        set_consent(db, settings, patients, now, sms_opt_out=intent == "opt_out")
        # Twilio answers its own keywords; ARRET is ours to confirm.
        word = normalise(inbound.body)
        if word == "arret":
            return reply_text(settings, "fr", "opt_out", None)
        # YES was most likely meant as a confirmation: Twilio took it, so say what works.
        if word == "yes" and session is not None:
            return reply_text(settings, language, "confirm_hint", session)
        return None
    if intent == "help":
        return reply_text(settings, language, "help", None)
    if intent in ("confirm", "reschedule"):
        if session is None:
            return reply_text(settings, language, "no_session", None)
        inbound.session = session
        if intent == "confirm":
            session.status, session.status_changed_at = SessionStatus.CONFIRMED, now
        else:  # on Needs attention with the link's requests; staff find the time
            ask_another_time(
                db,
                patient=session.series.patient,
                session=session,
                now=now,
                source="sms",
                inbound=inbound,
            )
        return reply_text(settings, language, intent, session)
    if _replied_today(db, settings, inbound.from_phone, now):
        return None
    return reply_text(settings, language, "other", None)


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
