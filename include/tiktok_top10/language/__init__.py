"""Korean-content filter: the language stage (see ``decide`` for the rules, ``stage`` for the DAG contract)."""

from .airflow_credentials import credentials_from_airflow
from .cli import cli_main
from .decide import Candidate, Decision, KoreanFilter
from .detectors import (
    Detection,
    DetectorError,
    DetectorResponseError,
    DetectorUnavailable,
    GoogleDetector,
    LinguaDetector,
    RetryPolicy,
)
from .stage import run_language

__all__ = [
    "Candidate",
    "Decision",
    "Detection",
    "DetectorError",
    "DetectorResponseError",
    "DetectorUnavailable",
    "GoogleDetector",
    "KoreanFilter",
    "LinguaDetector",
    "RetryPolicy",
    "cli_main",
    "credentials_from_airflow",
    "run_language",
]
