"""Meta-tests over the diagnose cause registry (STYLE habits 4, 6 and 7, issue 12).

- every cause has an id, a one-sentence title, facts that exist, a fix and every section;
- every signal it declares names something that exists (a rule code, a `logs` cause, an
  observation, a symptom); every ERROR-or-worse rule and every `logs` cause reaches a cause;
- the board refuses a cause that is not registered; an unknown id is a KeyError;
- every cause has a firing and a must-not-fire fixture (``cause_fixtures.FIXTURES``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtls_doctor.diagnose.board import Board
from mtls_doctor.diagnose.causes import CATALOGUE, CAUSES, SECTIONS, Cause, get
from mtls_doctor.diagnose.core import diagnose
from mtls_doctor.diagnose.evidence import EvidenceLine
from mtls_doctor.diagnose.signals import Kind, Observation, Symptom, parse_symptom
from mtls_doctor.logs.causes import all_causes
from mtls_doctor.model import InputError, Severity
from mtls_doctor.rules import REGISTRY
from tests.diagnose.cause_fixtures import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
FACTS = set(re.findall(r"\*\*(F\d+\.\d+)", (ROOT / "docs" / "nginx-mtls-facts.md").read_text()))
#: the rule families whose findings diagnose joins (nginx configuration and its files, probes,
#: error logs); other families (e.g. Kubernetes manifests) lint inputs diagnose does not read
DIAGNOSED_FAMILIES = frozenset({"config", "files", "bundle", "probe", "logs"})
#: rule findings that reach causes through the log groups they summarise instead
COVERED_BY_LOG_GROUPS = {"MTLS602": "client-cert-verify-failed:<code> groups",
                         "MTLS607": "config-* groups", "MTLS608": "upstream-* groups"}


@pytest.mark.parametrize("cause", CATALOGUE, ids=lambda c: c.id)
def test_cause_metadata_and_sections(cause):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cause.id)
    assert cause.title.endswith("."), cause.id
    assert cause.facts and set(cause.facts) <= FACTS, (cause.id, set(cause.facts) - FACTS)
    assert cause.fix and "{" not in cause.render_fix().text.replace("{{", ""), cause.id
    missing = [s for s in SECTIONS if not cause.sections().get(s)]
    assert not missing, f"{cause.id} docstring lacks {missing}"
    assert CAUSES[cause.id] is cause


def test_ids_unique_and_unknown_ids_fail_loudly():
    assert len({c.id for c in CATALOGUE}) == len(CATALOGUE)
    with pytest.raises(KeyError):
        get("no-such-cause")

    class Stray(Cause):
        id = "verify-client-off"  # an unregistered class with a registered id
        title = "x."
        facts = ("F1.2",)
        fix = "x"

    with pytest.raises(KeyError):
        Board().raise_(Stray, 0.5, EvidenceLine("config", "x", "y"))
    with pytest.raises(KeyError):
        Board().support(Stray, 0.5, EvidenceLine("config", "x", "y"))


def test_every_signal_names_something_that_exists():
    logs = {c.id for c in all_causes()}
    bad = []
    for cause in CATALOGUE:
        for sig in cause.signals:
            if sig.kind is Kind.FINDING:
                ok = sig.key.removesuffix("-error") in REGISTRY
            elif sig.kind is Kind.LOG:
                ok = sig.key in logs or re.fullmatch(r"(client|upstream)-cert-verify-failed:(\d+|\*)", sig.key)
            elif sig.kind is Kind.PROBE:
                ok = sig.key in {o.value for o in Observation}
            elif sig.kind is Kind.SYMPTOM:
                ok = sig.key in {s.value for s in Symptom}
            else:
                ok = sig.kind is Kind.VERIFY and sig.key.isdigit()
            if not ok:
                bad.append((cause.id, sig.kind.value, sig.key))
    assert bad == []


def test_every_error_finding_and_every_log_cause_reaches_a_cause():
    declared = {(s.kind, s.key.removesuffix("-error") if s.kind is Kind.FINDING else s.key)
                for c in CATALOGUE for s in c.signals}
    errors = [code for code, rule in REGISTRY.items() if rule.severity >= Severity.ERROR
              and rule.__module__.split(".")[2] in DIAGNOSED_FAMILIES
              and code not in COVERED_BY_LOG_GROUPS and (Kind.FINDING, code) not in declared]
    assert errors == [], "error-severity rules no cause declares"
    named = [c.id for c in all_causes() if not c.id.startswith(("client-cert-verify-failed:",
                                                                 "upstream-cert-verify-failed:"))]
    assert [i for i in named if (Kind.LOG, i) not in declared] == []
    assert (Kind.LOG, "client-cert-verify-failed:*") in declared  # every other code
    assert (Kind.LOG, "upstream-cert-verify-failed:*") in declared


def test_every_cause_has_fixtures():
    assert sorted(FIXTURES) == sorted(CAUSES)


@pytest.mark.parametrize("cause_id", sorted(FIXTURES))
def test_fixture_fires_first(cause_id):
    fire, _ = FIXTURES[cause_id]
    causes = diagnose(fire())
    assert causes and causes[0].cause == cause_id, [(c.cause, round(c.confidence, 2)) for c in causes]
    assert "{" not in causes[0].fix.text.replace("{{", "")


@pytest.mark.parametrize("cause_id", sorted(FIXTURES))
def test_ok_fixture_does_not_fire(cause_id):
    _, ok = FIXTURES[cause_id]
    assert cause_id not in [c.cause for c in diagnose(ok())]


@pytest.mark.parametrize("text, value", [
    ("No client certificate CA names sent", "no-ca-names"),
    ("400 No required SSL certificate was sent", "400-no-certificate"),
    ("400 The SSL certificate error", "400-certificate-error"),
    ("The plain HTTP request was sent to HTTPS port", "400-plain-http"),
    ("FAILED:certificate has expired", "failed"),
    ("none-at-backend", "none-at-backend"),
    ("browser-no-prompt", "browser-no-prompt"),
    ("421 Misdirected Request", "421"),
    ("403", "403"),
    ("handshake-alert:unknown ca", "handshake-alert"),
    ("backend-rejects", "backend-rejects"),
])
def test_symptom_vocabulary(text, value):
    assert parse_symptom(text).symptom.value == value


def test_unknown_symptom_is_an_input_error():
    with pytest.raises(InputError):
        parse_symptom("it is broken")
