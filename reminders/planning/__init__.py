"""What should be sent and when: reminders, follow-ups, where a series stands, consent."""
