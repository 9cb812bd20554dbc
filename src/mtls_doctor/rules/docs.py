"""Render rule documentation (``explain``, ``docs/rules/*.md``) from rule docstrings.

``python -m mtls_doctor.rules.docs DIR`` regenerates the docs pages; a test checks they are
up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mtls_doctor.rules import REGISTRY
from mtls_doctor.rules.base import GROUPS, Rule


def rule_markdown(rule: type[Rule]) -> str:
    lines = [f"# {rule.code} {rule.name}", "", rule.summary(), ""]
    lines.append(f"- Severity: `{rule.severity.value}`")
    lines.append(f"- Looks at: {rule.target}")
    lines.append(f"- Group: {GROUPS.get(int(rule.code[4]), '?')}")
    if rule.facts:
        lines.append("- Facts: " + ", ".join(rule.facts) + " (`docs/nginx-mtls-facts.md`)")
    lines.append("")
    for title, text in rule.sections().items():
        lines += [f"## {title}", "", text, ""]
    return "\n".join(lines).rstrip() + "\n"


def index_markdown() -> str:
    lines = ["# Rules", "", "Generated from the rule classes by `python -m mtls_doctor.rules.docs docs/rules`.", ""]
    lines += ["| code | name | severity | what it flags |", "|---|---|---|---|"]
    for code in sorted(REGISTRY):
        rule = REGISTRY[code]
        lines.append(f"| [{code}]({code}.md) | `{rule.name}` | {rule.severity.value} | {rule.summary()} |")
    return "\n".join(lines) + "\n"


def expected_pages() -> dict[str, str]:
    pages = {f"{code}.md": rule_markdown(rule) for code, rule in REGISTRY.items()}
    pages["README.md"] = index_markdown()
    return pages


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in expected_pages().items():
        (directory / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules"))
