"""Every environment variable the platform reads, declared once (SETTINGS), and the reading of the local ones.

SETTINGS is the catalogue: name, default, meaning, the environments a variable applies to, when it is
required and whether it is secret. `ubm doctor` takes the secrets and the "not set" explanations from it,
resources/aws.py its required variables and defaults, and the tables of README.md ("Configuration") and
docs/aws.md ("Environment variables") are its output: `python -m ubm_platform.settings --markdown local|aws`
(ubm_platform_tests/test_settings.py fails when they differ, or when the code reads a variable not in it).
Defaults make the embedded default work on a laptop with nothing configured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
SPARK_JOBS_DIR = PROJECT_ROOT / "spark_jobs"

ENVIRONMENTS = ("local", "aws")  # the values of UBM_ENV
BOTH = ENVIRONMENTS
LOCAL = ("local",)
AWS = ("aws",)
TRUE_VALUES = ("1", "true", "yes", "on")  # what turns a flag variable on


def is_true(value: str) -> bool:
    return value.strip().lower() in TRUE_VALUES


class Secret(enum.Enum):
    VALUE = "yes"  # the whole value is secret: never printed
    PASSWORD = "its password"  # a URL: printed with its password masked


@dataclass(frozen=True)
class Required:
    """A variable that must be set in `env` when `applies(value)` is true, where value(name) is another
    variable's value or its default; `label` is how the docs say it."""

    env: str
    label: str
    applies: Callable[[Callable[[str], str]], bool] = lambda value: True


@dataclass(frozen=True)
class Setting:
    name: str
    meaning: str  # markdown, one or more sentences
    environments: tuple[str, ...]
    default: str | None = None  # the value the code uses when the variable is unset or blank
    default_text: str | None = None  # the docs' words for a default the code computes (default is None then)
    required: Required | None = None
    secret: Secret | None = None

    def required_in(self, env: str) -> str:
        return self.required.label if self.required and self.required.env == env else "no"

    def documented_default(self) -> str:
        return self.default_text or (f"`{self.default}`" if self.default else "unset")

    def summary(self) -> str:
        """The meaning as plain text, for a terminal."""
        return self.meaning.replace("`", "").rstrip(".")


ALWAYS_ON_AWS = Required("aws", "always")
PASSWORD_AUTH = Required("aws", "password auth (`UBM_REDSHIFT_IAM` not 1)",
                         lambda value: not is_true(value("UBM_REDSHIFT_IAM")))
IAM_AUTH = Required("aws", "`UBM_REDSHIFT_IAM=1`", lambda value: is_true(value("UBM_REDSHIFT_IAM")))
EMR_STEPS = Required("aws", "`UBM_SPARK_MODE=emr_steps`", lambda value: value("UBM_SPARK_MODE") == "emr_steps")
EMR_SERVERLESS = Required("aws", "`UBM_SPARK_MODE=emr_serverless`",
                          lambda value: value("UBM_SPARK_MODE") == "emr_serverless")

SETTINGS: tuple[Setting, ...] = (
    # -- both environments ------------------------------------------------------------------------
    Setting("UBM_ENV", "`local` (the embedded default) or `aws` (docs/aws.md).", BOTH, default="local"),
    Setting("UBM_HOME", "State root: `lake/`, `warehouse.duckdb` (what analysts read; runs build `build/`), "
            "`oltp-pgdata/` (embedded PostgreSQL), `dagster/` "
            "(Dagster home), `landing/`; with `UBM_ENV=aws`, Dagster's local state (`dagster/`).", BOTH,
            default_text="`.ubm/` in the project"),
    Setting("UBM_LANDING", "Where the vendor's files arrive.", LOCAL, default_text="`$UBM_HOME/landing`"),
    Setting("UBM_OLTP_DSN", "PostgreSQL URL of the OLTP database, `postgresql://user:password@host:5432/db`; "
            "unset (local only): the platform starts an embedded PostgreSQL under `UBM_HOME`.", BOTH,
            required=ALWAYS_ON_AWS, secret=Secret.PASSWORD),
    Setting("UBM_PARTITION", "Partition granularity: `daily` or `hourly` (README: \"What would it take to run "
            "hourly?\").", BOTH, default="daily"),
    Setting("UBM_PARTITION_START", "First partition's day (YYYY-MM-DD, UTC).", BOTH, default="2022-01-01"),
    Setting("UBM_TRAINING_DATA", "Labelled CSV (`review_str,score`) or SST sentence file (`<label 0..4> <text>` "
            "lines) for `sentiment_model`; with `UBM_ENV=aws` an `s3://` CSV the EMR job role can read; unset: the "
            "vendor's scored rows in the lake.", BOTH),
    Setting("UBM_ALERT_WEBHOOK_URL", "Slack-compatible webhook for run failures and failed checks (always logged "
            "too).", BOTH, secret=Secret.VALUE),
    Setting("UBM_SENSOR_INTERVAL_S", "Seconds between two evaluations of a sensor by the Dagster daemon (the "
            "vendor-file sensor and the alert sensors).", BOTH, default="60"),
    Setting("DAGSTER_HOME", "The Dagster instance (SQLite locally).", BOTH,
            default_text="`$UBM_HOME/dagster` (set by `ubm`)"),
    Setting("JAVA_HOME", "The JDK local Spark runs on and that compiles the sentiment scorer jar (`spark_jobs/jvm`, "
            "uploaded to EMR too).", BOTH, default_text="`java` on the `PATH`"),
    # -- UBM_ENV=aws (docs/aws.md) ------------------------------------------------------------------
    Setting("AWS_REGION", "Region of the bucket, EMR and Redshift, e.g. `eu-west-1`.", AWS, required=ALWAYS_ON_AWS),
    Setting("AWS_ACCESS_KEY_ID", "Access key of the credentials, read by boto3's default chain; better unset, "
            "with a role (instance profile, ECS task role) or `AWS_PROFILE`.", AWS),
    Setting("AWS_SECRET_ACCESS_KEY", "Secret key of `AWS_ACCESS_KEY_ID`.", AWS, secret=Secret.VALUE),
    Setting("AWS_SESSION_TOKEN", "Session token of temporary credentials.", AWS, secret=Secret.VALUE),
    Setting("UBM_S3_BUCKET", "Bucket of the lake, the uploaded Spark code and the Spark runs' Pipes context and "
            "messages.", AWS, required=ALWAYS_ON_AWS),
    Setting("UBM_S3_PREFIX", "Key prefix of the lake inside `UBM_S3_BUCKET` (letters, digits, `. _ - = /`).", AWS,
            default="ubm"),
    Setting("UBM_S3_LANDING_BUCKET", "Bucket the vendor drops its files in.", AWS, default_text="`UBM_S3_BUCKET`"),
    Setting("UBM_S3_LANDING_PREFIX", "Prefix of the vendor files.", AWS, default_text="`<UBM_S3_PREFIX>/landing`"),
    Setting("UBM_S3_ENDPOINT_URL", "S3-compatible endpoint (MinIO, tests); unset on AWS.", AWS),
    Setting("UBM_SPARK_MODE", "`emr_steps` or `emr_serverless`.", AWS, default="emr_steps"),
    Setting("UBM_EMR_CLUSTER_ID", "The running EMR cluster (`j-...`) that takes the steps.", AWS,
            required=EMR_STEPS),
    Setting("UBM_EMR_SERVERLESS_APP_ID", "The EMR Serverless Spark application id.", AWS, required=EMR_SERVERLESS),
    Setting("UBM_EMR_EXECUTION_ROLE_ARN", "IAM role the serverless job runs as.", AWS, required=EMR_SERVERLESS),
    Setting("UBM_EMR_ENDPOINT_URL", "EMR / EMR Serverless API endpoint (tests); unset on AWS.", AWS),
    Setting("UBM_EMR_TIMEOUT_S", "A Spark job running longer is cancelled and fails its asset.", AWS,
            default="14400"),
    Setting("UBM_EMR_POLL_S", "Seconds between two job status requests (and Pipes message reads, at most 10 s "
            "apart).", AWS, default="15"),
    Setting("UBM_EMR_PYTHON_ARCHIVE", "`s3://.../*.tar.gz` packed Python environment (Python >= 3.10, "
            "`dagster-pipes`, `boto3`; >= 3.11 and the training packages if `sentiment_model` trains on EMR) the "
            "Spark driver and executors run; unset: the cluster's `python3` must have them (see \"dagster-pipes on "
            "the cluster\").", AWS),
    Setting("UBM_REDSHIFT_HOST", "Cluster endpoint host (optional with IAM auth: looked up).", AWS,
            required=PASSWORD_AUTH),
    Setting("UBM_REDSHIFT_PORT", "Cluster port.", AWS, default="5439"),
    Setting("UBM_REDSHIFT_DATABASE", "Database holding `user_behavior_metric`.", AWS, required=ALWAYS_ON_AWS),
    Setting("UBM_REDSHIFT_USER", "Database user (IAM auth: the `db_user` credentials are issued for).", AWS,
            required=ALWAYS_ON_AWS),
    Setting("UBM_REDSHIFT_PASSWORD", "The user's password.", AWS, required=PASSWORD_AUTH, secret=Secret.VALUE),
    Setting("UBM_REDSHIFT_IAM", "`1`: IAM authentication (`redshift:GetClusterCredentials`) instead of a "
            "password.", AWS, default="0"),
    Setting("UBM_REDSHIFT_CLUSTER_ID", "Cluster identifier for IAM authentication.", AWS,
            required=IAM_AUTH),
    Setting("UBM_REDSHIFT_SSLMODE", "`verify-ca`, `verify-full`, `require` or `disable`.", AWS,
            default="verify-ca"),
    Setting("UBM_REDSHIFT_DRIVER", "`redshift_connector` or `psycopg2` (password authentication only; it also "
            "talks to a PostgreSQL standing in for Redshift, as in the tests).", AWS, default="redshift_connector"),
    Setting("UBM_SPECTRUM_IAM_ROLE_ARN", "Role Redshift assumes to read the lake and the Glue catalog.", AWS,
            required=ALWAYS_ON_AWS),
    Setting("UBM_GLUE_DATABASE", "Glue database behind the `spectrum` schema.", AWS, default="ubm_lake"),
)
SETTING: dict[str, Setting] = {s.name: s for s in SETTINGS}
# Not settings: what the platform hands sql/dbt/profiles.yml when it runs dbt (from the settings above and
# the warehouse resource); set them yourself only to run dbt by hand (README, "The warehouse: a dbt project").
DBT_PROFILE_VARIABLES = {
    "UBM_DBT_TARGET": "`duckdb` (the embedded default) or `redshift`",
    "UBM_WAREHOUSE_PATH": "the DuckDB file runs build (`$UBM_HOME/build/warehouse.duckdb`)",
    "UBM_LAKE_ROOT": "the local lake DuckDB reads the sources from (`$UBM_HOME/lake`)",
}


def default(name: str) -> str:
    """The catalogued default of a variable, "" when it has none (KeyError: not in SETTINGS)."""
    return SETTING[name].default or ""


def value_or_default(name: str, fallback: str | None = None) -> str:
    """The variable's value, stripped; unset or blank: `fallback` (a default the caller computes), else the
    catalogued default."""
    return os.environ.get(name, "").strip() or (default(name) if fallback is None else fallback)


def required_unset(env: str) -> list[str]:
    """The variables `env` requires, given the other variables' values, that are unset (in SETTINGS' order)."""
    return [s.name for s in SETTINGS
            if s.required and s.required.env == env and s.required.applies(value_or_default)
            and not value_or_default(s.name)]


def settings_table(env: str) -> str:
    """The markdown table of the settings that apply to `env` (README.md: local; docs/aws.md: aws)."""
    rows = ["| variable | default | required | secret | meaning |", "|---|---|---|---|---|"]
    rows += [f"| `{s.name}` | {s.documented_default()} | {s.required_in(env)} | {s.secret.value if s.secret else ''} "
             f"| {s.meaning} |"
             for s in SETTINGS if env in s.environments]
    return "\n".join(rows) + "\n"


class SettingsError(ValueError):
    """A setting has a value the platform cannot use."""


def parse_day(value: str, what: str = "date") -> dt.date:
    """Parse a YYYY-MM-DD day; partition keys go through this before reaching SQL or paths."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{what} must be a date as YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    landing: str
    partition: str  # daily | hourly (UBM_PARTITION)
    partition_start: str
    oltp_dsn_set: bool
    training_data: str | None
    sensor_interval_s: int

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file analysts read: the published copy of the build."""
        return self.home / "warehouse.duckdb"

    @property
    def warehouse_build_path(self) -> Path:
        """The DuckDB file runs build (the same name in a folder of its own: the same catalog name)."""
        return self.home / "build" / "warehouse.duckdb"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.home / "oltp-pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def load_settings() -> Settings:
    env = value_or_default("UBM_ENV")
    if env not in ENVIRONMENTS:
        raise SettingsError(f"UBM_ENV must be 'local' or 'aws', got {env!r}")
    home = Path(os.environ.get("UBM_HOME") or PROJECT_ROOT / ".ubm").expanduser().resolve()
    landing = os.environ.get("UBM_LANDING") or str(home / "landing")
    start = os.environ.get("UBM_PARTITION_START") or default("UBM_PARTITION_START")
    parse_day(start, "UBM_PARTITION_START")
    partition = (os.environ.get("UBM_PARTITION") or default("UBM_PARTITION")).strip().lower()
    if partition not in ("daily", "hourly"):
        raise SettingsError(f"UBM_PARTITION must be 'daily' or 'hourly', got {partition!r}")
    interval = value_or_default("UBM_SENSOR_INTERVAL_S").strip()
    if not interval.isdigit() or int(interval) < 1:
        raise SettingsError(f"UBM_SENSOR_INTERVAL_S must be a whole number of seconds (>= 1), got {interval!r}")
    return Settings(
        env=env,
        home=home,
        landing=landing,
        partition=partition,
        partition_start=start,
        oltp_dsn_set=bool(os.environ.get("UBM_OLTP_DSN")),
        training_data=os.environ.get("UBM_TRAINING_DATA") or None,
        sensor_interval_s=int(interval),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ubm_platform.settings",
                                     description="Print the settings table of an environment, as the docs hold it.")
    parser.add_argument("--markdown", choices=ENVIRONMENTS, required=True,
                        help="local: README.md's Configuration table; aws: docs/aws.md's Environment variables table")
    print(settings_table(parser.parse_args(argv).markdown), end="")


if __name__ == "__main__":
    main()
