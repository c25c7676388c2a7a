"""The Twilio and SMTP fixtures come from tests.fakes.fixtures via the top-level conftest."""
