"""Session reminders and follow-ups for clinics running injection series.

The package reads as the flow, one folder per stage; a stage calls an earlier one, or a
later one only through the function meant for it (the import asks the planner to re-plan):

    config, models, store, journal, kinds   the ground floor: settings, tables, transactions,
                                            the event log, what a message kind implies
    intake/     schedule files and API rows, validated, then written (import, demo clinic)
    planning/   what to send and when: reminder rules, follow-ups, where a series stands,
                quiet hours, consent (the one way an opt-out changes)
    wording/    what a message says: Jinja2 templates, SMS text and size, the .ics event,
                unsubscribe links, auto-replies, template check and preview
    sending/    claims and leases, re-check and render, provider calls in flight, the
                per-sender rate limit, staff resends
    channels/   one module per provider (Twilio, SMTP, outbox): send() or a typed error
    feedback/   what comes back: Twilio delivery reports and the email fallback, patient
                replies, unsubscribe clicks, unknown outcomes reconciled
    staff/      read models for the console, the API and the CLI; staff accounts
    worker/     the Celery app, its thin tasks, the embedded folder broker
    ops/        running it: heartbeats, the checks behind `reminders doctor` and /healthz,
                retention (old message text and addresses erased, the audit trail kept)
    web/        the console (pages/ one module per page group), the API, webhooks, health
    cli         the `reminders` command
"""
