"""Diagnose a lab scenario on real nginx: what ``mtls-doctor demo`` ends with.

Starts the scenario's nginx (``lab.nginx.NginxServer``, loopback only, always stopped), sends its
client matrix once (so the error log holds nginx's own lines, F4.1), then runs the same
``collect`` + ``diagnose`` as ``mtls-doctor diagnose --config <its nginx.conf> --cert ...`` with
the first client the scenario expects to be refused (its certificate is what a user would pass).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

from mtls_doctor.diagnose.evidence import RootCause
from mtls_doctor.model import InputError, Report


@dataclass(frozen=True)
class LabDiagnosis:
    scenario: str
    command: str  # the equivalent command line
    report: Report
    causes: tuple[RootCause, ...]

    @property
    def top(self) -> RootCause | None:
        return self.causes[0] if self.causes else None


def _client_files(scenario: Any, pki: Any) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for spec in scenario.clients:
        if spec.client is None:
            continue
        client = pki.clients[spec.client]
        out[f"clients/{spec.client}-chain.pem"] = client.chain_pem
        out[f"clients/{spec.client}.pem"] = client.cert_pem
        out[f"clients/{spec.client}.key"] = client.key_pem
    return out


def _test_output_logs(text: str) -> tuple[Any, tuple]:
    from mtls_doctor.diagnose.evidence import LogEvidence
    from mtls_doctor.logs.summary import summarize
    from mtls_doctor.rules.logs import check

    summary = summarize(text.splitlines(), "nginx -t")
    return LogEvidence(summary, ("nginx -t",)), tuple(check(summary))


#: scenarios whose point is a configuration that lets the WRONG clients in: diagnosing them with
#: a refused client's certificate would be about that client, not about the scenario
NO_CLIENT = frozenset({"optional-unchecked", "optional-no-ca-foreign", "no-sni-cross-ca"})
#: certificates whose refusal is nginx working as intended (another CA, self-signed)
FOREIGN = frozenset({"foreign", "self-signed"})


def pick_client(scenario: Any) -> Any:
    """The client a user would bring: for a broken scenario the first one it refuses (not a
    foreign one), for a correct scenario the first one it accepts (the user's working
    certificate); none for the scenarios about letting the wrong clients in."""
    if scenario.name in NO_CLIENT:
        return None
    if not scenario.broken:
        return next((s for s in scenario.clients if s.client is not None and s.client not in FOREIGN
                     and s.expect.status == 200), None)
    return next((s for s in scenario.clients if s.client is not None and s.client not in FOREIGN
                 and s.expect.status != 200), None)


def run_on_lab_scenario(name: str, nginx: str | None = None, timeout: float = 3.0,
                        at: datetime | None = None) -> LabDiagnosis:
    from mtls_doctor.diagnose.collect import Options, collect
    from mtls_doctor.diagnose.core import diagnose
    from mtls_doctor.diagnose.report import build_report
    from mtls_doctor.lab.client import request
    from mtls_doctor.lab.nginx import NginxConfigError, NginxError, NginxServer
    from mtls_doctor.lab.pki import build_lab_pki
    from mtls_doctor.lab.scenarios import get

    scenario = get(name)
    if scenario is None:
        raise InputError(f"no lab scenario {name!r} (see `mtls-doctor lab list`)")
    at = at or datetime.now(timezone.utc)
    pki = build_lab_pki(at)
    files = {**scenario.files(pki), **_client_files(scenario, pki)}
    workdir = Path(tempfile.mkdtemp(prefix="mtls-doctor-diagnose-"))
    refused = pick_client(scenario)
    try:
        with NginxServer(scenario.render, ports=scenario.ports, files=files, nginx_bin=nginx,
                         workdir=workdir) as server:
            prefix = server.prefix
            for spec in scenario.clients:
                cert = key = None
                if spec.client is not None:
                    cert = prefix / f"clients/{spec.client}{'-chain' if spec.send_chain else ''}.pem"
                    key = prefix / f"clients/{spec.client}.key"
                request(server.port, lab_id=spec.id, ca_pem=pki.pem("root"), host="localhost",
                        sni="localhost" if spec.sni else None, cert_file=cert, key_file=key,
                        tls=spec.tls, headers=spec.headers, timeout=timeout)
            cert_path = key_path = None
            if refused is not None:
                cert_path = str(prefix / f"clients/{refused.client}{'-chain' if refused.send_chain else ''}.pem")
                key_path = str(prefix / f"clients/{refused.client}.key")
            # what the user's client does: SNI localhost, or none (the no-SNI scenarios, F7.3)
            target = {} if refused is None else (
                {"sni": "localhost", "host": "localhost"} if refused.sni else
                {"no_sni": True, "host": "localhost"})
            opts = Options(at=at, config=str(server.conf_path), cert=cert_path, key=key_path,
                           nginx=server.nginx_bin, timeout=timeout, **target)
            evidence = collect(opts)
    except NginxConfigError as exc:
        # nginx refused the configuration (e.g. F1.5): diagnose it from its files, with nginx's
        # own `nginx -t` words as evidence, as `diagnose` does when `nginx -T` fails
        evidence = collect(Options(at=at, config=str(workdir / "nginx.conf"), nginx=nginx, probe=False))
        if evidence.logs is None or not evidence.logs.summary.groups:  # nginx -t also logs it
            summary, findings = _test_output_logs(str(exc))
            evidence = replace(evidence, logs=summary, log_findings=evidence.log_findings + findings)
        refused = None
    except NginxError as exc:
        raise InputError(f"lab scenario {name}: {exc}".splitlines()[0]) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    causes = diagnose(evidence)
    command = "mtls-doctor diagnose --config <lab>/nginx.conf"
    if refused is not None:
        command += f" --cert {refused.client}{'-chain' if refused.send_chain else ''}.pem --key {refused.client}.key"
        command += " --sni localhost" if refused.sni else " --no-sni --host localhost"
    return LabDiagnosis(name, command, build_report(evidence, causes), causes)


__all__ = ["LabDiagnosis", "run_on_lab_scenario"]
