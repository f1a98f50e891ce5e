"""The one Settings object: every knob juncture has, read from ``JUNCTURE_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_hours() -> dict[str, dict[str, str | list[str]]]:
    return {"*": {"mon-fri": "08:00-18:00"}}


class Settings(BaseSettings):
    """juncture configuration. Every field is documented in docs/settings.md (checked by a test)."""

    model_config = SettingsConfigDict(env_prefix="JUNCTURE_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///juncture.db",
        description="SQLAlchemy URL of the database. SQLite file (default) or "
        "`postgresql+psycopg://user@host/db` for production.",
    )
    host: str = Field(default="127.0.0.1", description="Address `juncture serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `juncture serve` binds to.")
    auto_upgrade: bool = Field(
        default=True,
        description="On start, upgrade an outdated schema automatically when the database is an "
        "embedded SQLite file. PostgreSQL is never upgraded implicitly.",
    )
    run_jobs: bool = Field(
        default=True,
        description="Run the periodic job runner inside `juncture serve`. Every replica may run "
        "it: one leader is elected through the database.",
    )
    job_tick_seconds: float = Field(
        default=5.0, gt=0, description="How often the job runner checks for due jobs."
    )
    job_periods: dict[str, float] = Field(
        default_factory=dict,
        description='Override job periods in seconds, as JSON: `{"access.purge_expired": 600}`.',
    )
    session_hours: int = Field(
        default=12, ge=1, description="Lifetime of a web login session, in hours."
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Mark session cookies `Secure`: `auto` does so when the request came over "
        "HTTPS (directly or through a proxy sending X-Forwarded-Proto).",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per e-mail address allowed per window."
    )
    login_window_minutes: int = Field(
        default=15, ge=1, description="The window for counting failed logins, in minutes."
    )
    log_level: str = Field(default="INFO", description="Log level of juncture's own loggers.")
    log_json: bool = Field(default=True, description="Write logs as JSON lines (else plain text).")
    pool_size: int = Field(
        default=10, ge=1, description="PostgreSQL connection pool size per process."
    )
    sqlite_busy_timeout_ms: int = Field(
        default=10_000, ge=0, description="How long SQLite waits for the write lock."
    )
    retention_days: dict[str, int] = Field(
        default_factory=lambda: {
            "metric": 400,
            "funnel": 400,
            "ticket": 730,
            "survey": 730,
            "review": 730,
            "deploy": 730,
        },
        description="Days raw signals of each type are kept (older ones are refused on ingest and "
        "purged daily); rollups are kept. JSON object by signal type.",
    )
    max_future_seconds: int = Field(
        default=300, ge=0, description="How far in the future an event time may be (clock skew)."
    )
    auto_register: bool = Field(
        default=False,
        description="Create unknown services and journey steps named by signals (owned by an "
        "`unassigned` team) instead of quarantining the records.",
    )
    redact_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="Extra PII patterns redacted from free text before storage, as JSON "
        '`{"order_id": "ORD-\\d+"}`; e-mail, phone and Luhn-valid card numbers are always '
        "redacted.",
    )
    ingest_max_records: int = Field(
        default=10_000, ge=1, description="Most records one `POST /api/v1/signals` call may carry."
    )
    ingest_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body the ingest endpoints read.",
    )
    widget_rate_per_minute: int = Field(
        default=30,
        ge=1,
        description="Survey-widget responses accepted per token and client address per minute.",
    )
    status_webhook_allow_private: bool = Field(
        default=False,
        description=(
            "Let status-page webhook subscriptions point at loopback, private or link-local "
            "addresses (the subscribe endpoint is public: off, it cannot be used to reach "
            "internal services)."
        ),
    )
    data_dir: Path = Field(
        default=Path("."), description="Where the demo writes its database and generated files."
    )
    business_hours: dict[str, dict[str, str | list[str]]] = Field(
        default_factory=_default_hours,
        description="Opening hours per team slug (`*` for every other team) in the team's own "
        'time zone, for business-hours KPIs such as first response time: JSON, e.g. `{"*": '
        '{"mon-fri": "08:00-18:00"}, "support": {"mon-sun": "00:00-24:00"}}`.',
    )
    holidays: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Closed local dates per team slug (`*` for all teams), JSON, e.g. "
        '`{"*": ["2026-12-25", "2027-01-01"]}`.',
    )
    order_step: str = Field(
        default="purchase/paid",
        description="The journey step (`journey/step`) whose sessions count as orders, for "
        "tickets per 1,000 orders and as the default journey for conversion.",
    )
    slo_targets: dict[str, float] = Field(
        default_factory=lambda: {"1": 99.9, "2": 99.5, "3": 99.0},
        description="Availability SLO target in percent per service tier, JSON.",
    )

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address people reach juncture at: absolute links in alert "
        "notifications (Open, Acknowledge) start with it.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs the acknowledge links of alert notifications (HMAC-SHA256); at "
        "least 16 characters. Unset: notifications carry no acknowledge link. Changing it "
        "invalidates the links already sent.",
    )
    incident_deploy_lookback_hours: int = Field(
        default=6,
        ge=0,
        le=24 * 14,
        description="How many hours before an incident started its timeline captures deploys "
        "of the incident's services (declaration and the capture job).",
    )
    ack_link_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 30,
        description="How long the acknowledge link of a notification stays valid, in hours.",
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("secret_key must be at least 16 characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        # Accept the URLs people paste from elsewhere and pin the psycopg 3 driver.
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    """Read settings from the environment (a fresh object each call; no module-level state)."""
    return Settings()
