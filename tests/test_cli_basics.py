"""The CLI shell: help, version, exit codes, lazy imports, rules/explain."""

from __future__ import annotations

import json
import subprocess
import sys

from mtls_doctor.cli import COMMANDS, main
from mtls_doctor.rules import REGISTRY


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtls_doctor", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_commands_and_exits_0():
    proc = run("--help")
    assert proc.returncode == 0
    assert "Exit codes: 0 fine, 1 findings, 2 usage or input error." in proc.stdout
    assert "rules" in proc.stdout and "explain" in proc.stdout


def test_help_imports_no_heavy_module():
    # Start-up speed is benchmarked in bench/; here we pin its cause: --help must not import
    # cryptography, OpenSSL, rich or crossplane (they are imported lazily by each command).
    code = (
        "import sys; from mtls_doctor.cli import main; main(['--help']);"
        "heavy=[m for m in ('cryptography','OpenSSL','rich','crossplane') if m in sys.modules];"
        "print('HEAVY=' + ','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stdout or proc.stdout.rstrip().endswith("HEAVY="), proc.stdout


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and "mtls-doctor" in proc.stdout


def test_unknown_command_is_usage_error():
    proc = run("no-such-command")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_explain_unknown_rule_is_one_line_exit_2():
    proc = run("explain", "MTLS999")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "no rule" in proc.stderr


def test_rules_json_lists_registry():
    proc = run("rules", "--format", "json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert [r["rule"] for r in data["rules"]] == sorted(REGISTRY)


def test_every_registered_command_module_exists():
    import importlib

    for name, (target, _) in COMMANDS.items():
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        assert hasattr(module, attr), f"{name}: {target} missing"


def test_main_returns_exit_code_without_sys_exit():
    assert main(["rules", "--format", "json"]) == 0
