"""Running the service: heartbeats, the checks behind `reminders doctor` and `/healthz`,
and retention (erasing old message text and addresses, keeping the audit trail)."""
