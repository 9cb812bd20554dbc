"""``mtls-doctor diagnose``: lint, files, probe, verify, logs and symptoms joined into ranked causes.

- ``collect.collect(Options)`` gathers the evidence (the only I/O: the running nginx found by
  ``discover``, nginx -V/-T, files, probes (``probing``), log tails with their history before the
  last reload (``logtail``), offline verification of the user's certificate);
- ``target.resolve_target`` says where the user's client lands (nginx's server selection);
- ``core.diagnose(Evidence)`` is the pure join: each piece of evidence reaches the causes that
  declare it (``signals``, ``board``), ``probes`` and ``symptoms`` judge what a table cannot;
- ``causes`` is the registry of cause classes with stable ids (``docs/diagnose-causes.md``);
  ``report.build_report`` makes the Report (``--format json``); ``lab.run_on_lab_scenario`` runs
  the whole thing against a lab scenario on real nginx (for ``mtls-doctor demo``); the real-case
  corpus is ``tests/diagnose/corpus.py`` (``docs/cases.md``).
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
