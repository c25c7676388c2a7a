"""What comes back: delivery reports, patient replies, unknown outcomes settled."""
