"""``python -m mtls_doctor``."""

from mtls_doctor.cli import run

run()
