"""The one settings object: environment variables over an optional TOML file.

Every variable is `REMINDERS_<NAME>`; nested sections use a double underscore
(`REMINDERS_CLINIC__TIMEZONE`). `REMINDERS_CONFIG` names the TOML file.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import time, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from reminders.kinds import SESSION_REMINDER

ChannelName = Literal["sms", "email"]
CHANNELS: tuple[ChannelName, ...] = ("email", "sms")

PACKAGE_ROOT = Path(__file__).resolve().parent


def _shipped_templates() -> Path:
    """The wheel's copy inside the package; in a checkout (or an editable install), the
    top-level folder it is built from (setup.py maps one onto the other)."""
    packaged = resources.files("reminders") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return PACKAGE_ROOT.parent / "templates"


SHIPPED_TEMPLATES = _shipped_templates()

_OFFSET = re.compile(r"^([+-])((?:\d+[dhm])+)$")
_OFFSET_PART = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class ConfigError(Exception):
    """The configuration cannot run: the message names the variable to fix."""


class Section(BaseModel):
    """A `[section]` of the TOML file (or `REMINDERS_<SECTION>__<KEY>`): a misspelt key is
    refused, not ignored; ignoring `nmae` would send the SMS with the default clinic's name."""

    model_config = ConfigDict(extra="forbid")


def parse_offset(text: str) -> timedelta:
    """`-72h`, `-30m`, `+1d`, `-1d12h` relative to the session start."""
    match = _OFFSET.match(text.strip())
    if not match:
        raise ValueError(f"offset {text!r} is not like -72h, -30m or +1d")
    sign = -1 if match.group(1) == "-" else 1
    total = timedelta()
    for amount, unit in _OFFSET_PART.findall(match.group(2)):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    return sign * total


def format_offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta() else "+"
    minutes = int(abs(offset).total_seconds() // 60)
    if minutes % (60 * 24) == 0:
        return f"{sign}{minutes // (60 * 24)}d"
    if minutes % 60 == 0:
        return f"{sign}{minutes // 60}h"
    return f"{sign}{minutes}m"


class Clinic(Section):
    name: str = "Calgary Integrative Medicine"
    phone: str = "+14032027272"
    address: str = "Calgary, Alberta"
    website: str = ""
    email: str = ""
    timezone: str = "America/Edmonton"
    booking_url: str = ""
    # SMS stay minimal: the treatment is a health detail, named only when the clinic opts in.
    name_treatment_in_sms: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class QuietHours(Section):
    """SMS are not sent inside [start, end) clinic time; start == end turns it off."""

    start: time = time(21, 0)
    end: time = time(8, 0)


class ReminderRule(Section):
    name: str
    kind: str = SESSION_REMINDER
    channel: ChannelName
    offset: timedelta
    template: str = ""

    @field_validator("offset", mode="before")
    @classmethod
    def _parse_offset(cls, value: object) -> object:
        return parse_offset(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _template_defaults_to_kind(self) -> ReminderRule:
        if not self.template:
            self.template = self.kind
        return self

    @property
    def before_session(self) -> bool:
        return self.offset < timedelta()


class FollowUps(Section):
    """The messages that keep a series on track, between and after sessions."""

    enabled: bool = True
    # The first choice of channel; the other one when the patient cannot get this one.
    channel: ChannelName = "email"
    # After-care and the series-complete note go the day after the session, at this clinic time.
    send_at: time = time(10, 0)
    nudge_after_days: int = 7
    missed_after_hours: float = 2.0
    default_interval_days: int = 21
    tolerance_days: int = 7
    # Target interval between sessions per treatment, in days.
    interval_days: dict[str, int] = Field(default_factory=dict)
    # How long after its due time a follow-up is still worth sending.
    shelf_life_days: int = 3

    def interval_for(self, treatment: str, override: int | None = None) -> timedelta:
        days = override or self.interval_days.get(treatment, self.default_interval_days)
        return timedelta(days=days)


DEFAULT_RULES = [
    ReminderRule(name="email-72h", channel="email", offset=timedelta(hours=-72)),
    ReminderRule(name="sms-24h", channel="sms", offset=timedelta(hours=-24)),
]


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'reminders.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REMINDERS_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database_url: str = Field(default_factory=_default_database_url)
    # None means the embedded broker: kombu's filesystem transport under state_dir.
    broker_url: str | None = None
    state_dir: Path = Path(".reminders")

    sms_backend: Literal["twilio", "outbox"] = "outbox"
    email_backend: Literal["smtp", "outbox"] = "outbox"
    outbox_dir: Path = Path("outbox")

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_messaging_service_sid: str = ""
    # Only tests and regional edges change this; production talks to api.twilio.com.
    twilio_api_url: str = "https://api.twilio.com"
    twilio_timeout: float = 10.0

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_timeout: float = 30.0
    email_from: str = ""

    public_url: str = ""

    clinic: Clinic = Clinic()
    quiet_hours: QuietHours = QuietHours()
    followups: FollowUps = FollowUps()
    # Signs the unsubscribe links in follow-up emails.
    secret_key: str = ""
    rules: list[ReminderRule] = Field(default_factory=lambda: list(DEFAULT_RULES))
    templates_dir: Path | None = None
    sms_segment_budget: int = 2

    dispatch_interval: float = 5.0
    # Messages claimed and sent per task; unset: chosen by the send path (`claim_size`).
    batch_size: int | None = Field(default=None, ge=1)
    # Provider calls in flight at once in one worker process: the wait is the provider's.
    send_concurrency: int = Field(default=48, ge=1, le=256)
    # ...of which email, each on an SMTP connection kept open: relays allow only a few.
    email_concurrency: int = Field(default=4, ge=1, le=64)
    # Per sender (a From number, a Messaging Service, an SMTP account), shared by every
    # worker through Redis; 0 means no limit. SMS count in segments.
    sms_rate_per_second: float = Field(default=0.0, ge=0)
    email_rate_per_second: float = Field(default=0.0, ge=0)
    # An email whose outcome is unknown goes again once with the same Message-ID (mail
    # systems keep one copy of a Message-ID); false leaves it for staff instead.
    email_retry_unknown: bool = True
    max_attempts: int = 5
    retry_base_seconds: float = 30.0
    # A claim whose task never ran, or a send whose worker died, is looked at again after this.
    lease_seconds: float = 300.0
    resend_limit: int = 3
    # Days after which a message's body, subject and recipient (and an SMS reply's text and
    # number) are erased, keeping its status, times and who acted; 0 keeps them forever.
    retention_days: int = Field(default=0, ge=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, SecretFiles(settings_cls)]
        config_file = os.environ.get("REMINDERS_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigError(f"REMINDERS_CONFIG: no such file {config_file}")
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"REMINDERS_CONFIG {config_file} is not valid TOML: {exc}"
                ) from exc
        return tuple(sources)

    def check(self) -> None:
        """Refuse to start a real backend without its credentials."""
        missing: list[str] = []
        if self.sms_backend == "twilio":
            for name in ("twilio_account_sid", "twilio_auth_token"):
                if not getattr(self, name):
                    missing.append(f"REMINDERS_{name.upper()}")
            if not (self.twilio_from or self.twilio_messaging_service_sid):
                missing.append("REMINDERS_TWILIO_FROM or REMINDERS_TWILIO_MESSAGING_SERVICE_SID")
        if self.email_backend == "smtp":
            for name in ("smtp_host", "email_from"):
                if not getattr(self, name):
                    missing.append(f"REMINDERS_{name.upper()}")
        if missing:
            backends = f"sms={self.sms_backend}, email={self.email_backend}"
            raise ConfigError(f"missing configuration for {backends}: set {', '.join(missing)}")

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url is None

    @property
    def template_dirs(self) -> list[Path]:
        """A clinic's own folder first, so it overrides any shipped template."""
        dirs = [self.templates_dir] if self.templates_dir else []
        return [*dirs, SHIPPED_TEMPLATES]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    refuse_unknown_variables(os.environ)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from exc


# Secrets a container or a systemd unit may hand over as files: REMINDERS_<NAME>_FILE.
SECRET_FIELDS = (
    "database_url",
    "broker_url",
    "twilio_account_sid",
    "twilio_auth_token",
    "smtp_username",
    "smtp_password",
    "secret_key",
)
# Variables of ours that are not settings; REMINDERS_TEST_* belong to the test suite.
OTHER_VARIABLES = {"REMINDERS_CONFIG"}
_OURS_ELSEWHERE = "REMINDERS_TEST_"


class SecretFiles(PydanticBaseSettingsSource):
    """`REMINDERS_TWILIO_AUTH_TOKEN_FILE=/run/secrets/twilio_auth_token` and the like."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every file at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            variable = f"REMINDERS_{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if os.environ.get(variable):
                raise ConfigError(f"{variable} and {variable}_FILE are both set: keep one")
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{variable}_FILE: cannot read {path} ({exc.strerror})") from exc
        return values


def setting_variables(model: type[BaseModel] = Settings, prefix: str = "REMINDERS_") -> set[str]:
    """Every REMINDERS_* name a setting answers to; a `dict` setting's keys are open."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        variable = prefix + name.upper()
        names.add(variable)
        section = _section(field.annotation)
        if section is not None:
            names |= setting_variables(section, variable + "__")
        elif get_origin(field.annotation) is dict:
            names.add(variable + "__*")
    return names


def refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """A misspelt REMINDERS_* variable is an error, not a setting silently left at its default."""
    known = setting_variables()
    secrets = {f"REMINDERS_{name.upper()}_FILE" for name in SECRET_FIELDS}
    allowed = known | secrets | OTHER_VARIABLES
    open_prefixes = tuple(name[:-1] for name in known if name.endswith("__*"))
    unknown = [
        name
        for name in sorted(environ)
        if name.startswith("REMINDERS_")
        and name not in allowed
        and not name.startswith((_OURS_ELSEWHERE, *open_prefixes))
    ]
    if unknown:
        lines = [f"{name} is not a setting{_did_you_mean(name, allowed)}" for name in unknown]
        raise ConfigError("unknown variable:\n  " + "\n  ".join(lines))


def _section(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return _section(item)
    return None


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The names allowed where an unknown one was found: `("clinic", "nmae")` -> Clinic's."""
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _section(field.annotation) if field else None
    return list(model.model_fields) if model else []


def describe(exc: ValidationError) -> str:
    """One line per bad value, named as the variable a person would set (and the TOML key)."""
    lines = []
    for error in exc.errors():
        name = "__".join(str(part) for part in error["loc"] if not isinstance(part, int))
        if error["type"] == "extra_forbidden":
            dotted = ".".join(str(part) for part in error["loc"])
            key = str(error["loc"][-1])
            hint = _did_you_mean(key, _keys_at(error["loc"]))
            lines.append(f"{dotted} (REMINDERS_{name.upper()}): unknown setting{hint}")
            continue
        given = f" (got {error['input']!r})" if not isinstance(error["input"], dict) else ""
        lines.append(f"REMINDERS_{name.upper()}: {error['msg']}{given}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
