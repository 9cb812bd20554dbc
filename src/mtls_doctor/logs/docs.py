"""``docs/log-causes.md``, generated from the cause catalogue (``logs/causes.py``).

``python -m mtls_doctor.logs.docs [PATH]`` writes it; ``tests/logs/test_docs.py`` checks it is
up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mtls_doctor.logs.causes import UPSTREAM_VERIFY_PREFIX, VERIFY_PREFIX, all_causes
def causes_markdown() -> str:
    """``docs/log-causes.md``: every cause identifier with its explanation and fix.

    Regenerate with ``python -m mtls_doctor.logs.docs docs/log-causes.md``; a test checks it.
    """
    lines = [
        "# Log causes", "",
        "The stable identifiers `mtls-doctor logs` groups nginx error-log lines by "
        "(JSON `groups[].cause`). Generated from `src/mtls_doctor/logs/causes.py` by "
        "`python -m mtls_doctor.logs.docs docs/log-causes.md`; do not edit by hand.", "",
        f"- `{VERIFY_PREFIX}<code>`: nginx rejected a client certificate with OpenSSL verify error "
        "`<code>` (`client SSL certificate verify error: (<code>:<text>)`, logged at `info`, F4.1). "
        "The codes explained below are the ones with a known nginx meaning; any other code gets "
        "the same identifier pattern with OpenSSL's text.",
        f"- `{UPSTREAM_VERIFY_PREFIX}<code>`: nginx, as a client with `proxy_ssl_verify on`, "
        "rejected an upstream's certificate with that code.",
        "- Codes are OpenSSL's and changed between releases (24 was \"invalid CA certificate\" "
        "in 1.1.1, now 79); when the logged text names another known code, the text wins.", "",
        "| cause | rule | whose fix | what it means |", "|---|---|---|---|",
    ]
    causes = all_causes()
    for c in causes:
        lines.append(f"| [`{c.id}`](#{_anchor(c.id)}) | {c.rule} | {c.fault} | {c.title} |")
    lines.append("")
    for c in causes:
        lines += [f"## {c.id}", "", f"**{c.title}** (rule {c.rule}; fix: {c.fault})", ""]
        if c.sample:
            lines += [f"Log text: `{c.sample}`", ""]
        lines += [c.explanation, "", f"Fix: {c.fix}", ""]
        if c.facts:
            lines += ["Facts: " + ", ".join(c.facts) + " (`docs/nginx-mtls-facts.md`)", ""]
    return "\n".join(lines).rstrip() + "\n"


def _anchor(cause_id: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", cause_id.lower()).replace(" ", "-")


def main(argv: list[str]) -> None:
    Path(argv[0] if argv else "docs/log-causes.md").write_text(causes_markdown(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
