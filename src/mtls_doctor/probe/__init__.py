"""Live probing of an mTLS endpoint: the only socket code of mtls-doctor.

``handshake.attempt`` runs one TCP+TLS+HTTP attempt; ``matrix.run_matrix`` runs the default
matrix and ``matrix.infer`` says what the server enforces. Results are frozen dataclasses from
``probe.model``; operational failures are values, never exceptions.
"""

from mtls_doctor.probe.handshake import ProbeConfig, attempt
from mtls_doctor.probe.matrix import infer, run_matrix
from mtls_doctor.probe.model import Attempt, AttemptSpec, CertKind, Inference, Outcome, ProbeResult

__all__ = [
    "ProbeConfig", "attempt", "infer", "run_matrix",
    "Attempt", "AttemptSpec", "CertKind", "Inference", "Outcome", "ProbeResult",
]
