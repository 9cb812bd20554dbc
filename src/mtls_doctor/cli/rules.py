"""``mtls-doctor rules`` and ``mtls-doctor explain CODE``."""

from __future__ import annotations

import sys

import click

from mtls_doctor.cli.common import complete_rule, fail, format_option


@click.command("rules")
@format_option()
def rules_command(fmt: str) -> int:
    """List every rule: code, name, severity and what it flags."""
    from mtls_doctor.rules import REGISTRY

    if fmt == "json":
        from mtls_doctor.report.json import dumps, envelope, rule_entry

        data = envelope("rules", {"rules": [rule_entry(REGISTRY[c].to_dict()) for c in sorted(REGISTRY)]})
        sys.stdout.write(dumps(data))
        return 0
    from mtls_doctor.cli.console import console
    from mtls_doctor.report.text import print_table

    # codes and names are typed into --select/--ignore/explain: never cut
    print_table(console(), ("code", "name", "severity", "what it flags"),
                [(code, REGISTRY[code].name, REGISTRY[code].severity.value,
                  REGISTRY[code].summary()) for code in sorted(REGISTRY)], prose=(3,))
    return 0


@click.command("explain")
@click.argument("code", shell_complete=complete_rule)
@format_option()
def explain_command(code: str, fmt: str) -> int:
    """Show the documentation of one rule (by code, e.g. MTLS101, or by name)."""
    from mtls_doctor.rules import get
    from mtls_doctor.rules.docs import rule_markdown

    rule = get(code)
    if rule is None:
        fail(f"no rule {code!r}; `mtls-doctor rules` lists them")
    assert rule is not None
    if fmt == "json":
        from mtls_doctor.report.json import dumps, envelope, rule_entry

        sys.stdout.write(dumps(envelope("explain", rule_entry(rule.to_dict()))))
    else:
        from rich.text import Text

        from mtls_doctor.cli.console import console

        # the page of docs/rules as it is (rich's Markdown rendering crops list items and code
        # lines to the width, cutting names one types): wrapped between words on a terminal
        console().print(Text(rule_markdown(rule).rstrip("\n")))
    return 0
