"""Claim what is due, re-check it, send it, record the outcome; staff resends."""
