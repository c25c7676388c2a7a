"""Fakes at the network edge only: loopback servers for Twilio and SMTP."""
