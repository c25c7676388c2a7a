"""After retention_days a message keeps its status, times and trail, and loses what it said
and to whom; a dry run counts without erasing; 0 keeps everything."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from reminders import store
from reminders.cli import main
from reminders.config import Settings
from reminders.models import InboundMessage, Message, MessageEvent
from reminders.ops.retention import purge
from tests.harness import Clinic, local, row

IMPORTED = local("2026-03-01 09:00")
SENT = local("2026-03-08 10:05")  # S1-1's email reminder goes out
LATER = SENT + timedelta(days=31)


def sent_clinic(settings: Settings, tmp_path: Path) -> Clinic:
    clinic = Clinic(settings.model_copy(update={"retention_days": 30}), tmp_path)
    clinic.import_rows([row(starts_at="2026-03-10T14:00:00-06:00")], IMPORTED)
    clinic.tick(SENT)
    with store.transaction(settings.database_url) as db:
        db.add(
            InboundMessage(
                provider_id="SM" + "1" * 32,
                received_at=SENT,
                from_phone="+14035550101",
                body="YES see you Tuesday, my knee is worse",
                intent="confirm",
            )
        )
    return clinic


def messages(settings: Settings) -> list[Message]:
    with store.transaction(settings.database_url) as db:
        return list(db.scalars(select(Message).order_by(Message.id)))


def test_purge_erases_text_and_addresses_and_keeps_the_audit_trail(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = sent_clinic(settings, tmp_path)
    before = [(m.id, m.status, m.sent_at, m.kind, m.triggered_by) for m in messages(settings)]
    with store.transaction(settings.database_url) as db:
        events = db.scalar(select(MessageEvent.id).order_by(MessageEvent.id.desc()))

    result = purge(clinic.settings, LATER)

    sent = [m for m in messages(settings) if m.status == "sent"]
    assert (result.messages, result.replies) == (1, 1)
    assert len(sent) == 1 and (sent[0].body, sent[0].subject, sent[0].recipient) == (None,) * 3
    after = [(m.id, m.status, m.sent_at, m.kind, m.triggered_by) for m in messages(settings)]
    assert after == before
    with store.transaction(settings.database_url) as db:
        assert db.scalar(select(MessageEvent.id).order_by(MessageEvent.id.desc())) == events
        reply = db.scalars(select(InboundMessage)).one()
        assert (reply.body, reply.from_phone, reply.intent) == ("", "", "confirm")
    # Planned messages still to go keep their text and address (they have none yet anyway).
    assert any(m.status == "planned" for m in messages(settings))


def test_purge_leaves_what_is_younger_than_the_retention_period(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = sent_clinic(settings, tmp_path)

    result = purge(clinic.settings, SENT + timedelta(days=29))

    assert (result.messages, result.replies) == (0, 0)
    assert all(m.body for m in messages(settings) if m.status == "sent")


def test_a_dry_run_counts_and_erases_nothing(settings: Settings, tmp_path: Path) -> None:
    clinic = sent_clinic(settings, tmp_path)

    result = purge(clinic.settings, LATER, dry_run=True)

    assert (result.messages, result.replies) == (1, 1)
    assert all(m.body and m.recipient for m in messages(settings) if m.status == "sent")


def test_zero_days_keeps_everything(settings: Settings, tmp_path: Path) -> None:
    sent_clinic(settings, tmp_path)

    result = purge(settings, LATER + timedelta(days=3650))

    assert result.before is None and str(result) == "retention_days is 0: everything is kept"
    assert all(m.body for m in messages(settings) if m.status == "sent")


def test_the_purge_command_says_what_it_would_erase_and_then_erases_it(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sent_clinic(settings, tmp_path)
    monkeypatch.setenv("REMINDERS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REMINDERS_RETENTION_DAYS", "30")
    now = LATER.isoformat()

    assert main(["purge", "--dry-run", "--now", now]) == 0
    assert main(["purge", "--now", now]) == 0

    dry, done = capsys.readouterr().out.strip().splitlines()
    assert dry.startswith("dry run, nothing erased: would erase the text and addresses of 1 ")
    assert done.startswith("erased the text and addresses of 1 message(s) and 1 SMS")
    assert all(m.body is None for m in messages(settings) if m.status == "sent")
