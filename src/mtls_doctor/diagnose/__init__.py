"""``mtls-doctor diagnose``: lint, files, probe, verify and logs joined into ranked root causes.

- ``collect.collect(Options)`` gathers the evidence (the only I/O: nginx -V/-T, files, probes,
  log tails, offline verification of the user's certificate);
- ``core.diagnose(Evidence)`` is the pure join: evidence in, ranked ``RootCause`` out;
- ``report.build_report`` makes the Report (``--format json``); ``causes`` is the catalogue of
  stable cause ids (``docs/diagnose-causes.md``); ``lab.run_on_lab_scenario`` runs the whole
  thing against a lab scenario on real nginx (for ``mtls-doctor demo``).
"""

from mtls_doctor.diagnose.causes import CATALOGUE, CAUSES, CauseInfo, causes_markdown
from mtls_doctor.diagnose.core import diagnose
from mtls_doctor.diagnose.evidence import (
    Evidence,
    EvidenceLine,
    LogEvidence,
    NginxInfo,
    ProbeEvidence,
    RootCause,
    VerifyEvidence,
)


def run_on_lab_scenario(name: str, nginx: str | None = None, timeout: float = 3.0):
    """Diagnose a lab scenario on real nginx (see ``diagnose.lab``); returns a ``LabDiagnosis``."""
    from mtls_doctor.diagnose.lab import run_on_lab_scenario as run

    return run(name, nginx=nginx, timeout=timeout)


__all__ = [
    "CATALOGUE", "CAUSES", "CauseInfo", "causes_markdown", "diagnose", "Evidence", "EvidenceLine",
    "LogEvidence", "NginxInfo", "ProbeEvidence", "RootCause", "VerifyEvidence", "run_on_lab_scenario",
]
