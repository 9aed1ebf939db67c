"""Diagnostics: a logger that records what training needs, and a doctor that reads it."""

from keras_recipes.diagnostics.doctor import RULES, diagnose
from keras_recipes.diagnostics.finding import SEVERITIES, Finding, print_report
from keras_recipes.diagnostics.logger import DiagnosticLogger
from keras_recipes.diagnostics.probe import Probe
from keras_recipes.diagnostics.run_record import RunRecord, as_record

__all__ = [
    "RULES",
    "SEVERITIES",
    "DiagnosticLogger",
    "Finding",
    "Probe",
    "RunRecord",
    "as_record",
    "diagnose",
    "print_report",
]
