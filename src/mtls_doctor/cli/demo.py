"""``mtls-doctor demo``: a classic broken mTLS setup and its fix, side by side, on real nginx.

Thin: both scenarios run through ``mtls_doctor.lab.run.run_scenario`` (one lab PKI, one nginx
per scenario, loopback only); this module shows the configuration difference, the measured
answers, nginx's own log line, why (fact ids) and the fix. Exit 0 when both scenarios behaved
exactly as the facts sheet says, 1 otherwise, 2 when nginx is missing or the name is unknown.
"""

from __future__ import annotations

import difflib
import sys
from typing import Any

import click

from mtls_doctor.cli.common import fail, format_option
from mtls_doctor.cli.lab import base_port_option

#: broken scenario -> the scenario that fixes it (same client ids, one setting changed)
FIXED_BY = {
    "ca-intermediate-only": "ca-root-and-inter",
    "client-omits-intermediate": "ca-root-and-inter",
    "depth-default": "depth-2",
    "optional-unchecked": "optional-checked",
    "no-sni-default-server": "no-sni-rejected",
    "no-sni-cross-ca": "no-sni-rejected",
    "proxy-headers-passed-through": "proxy-headers-overwritten",
}
DEFAULT = "ca-intermediate-only"


@click.command("demo")
@click.option("--scenario", "name", default=DEFAULT, show_default=True,
              type=click.Choice(sorted(FIXED_BY)), help="The broken scenario to show.")
@click.option("--nginx", "nginx", metavar="PATH", help="The nginx binary (default: PATH, /usr/sbin).")
@format_option()
@base_port_option()
def command(name: str, nginx: str | None, fmt: str, base_port: int | None = None) -> int:
    """Run a broken and the fixed lab scenario side by side on real nginx and explain why."""
    from mtls_doctor.cli.lab import execute
    from mtls_doctor.lab.scenarios import get

    broken, fixed = get(name), get(FIXED_BY[name])
    if broken is None or fixed is None:  # the literal above names existing scenarios
        fail(f"no scenario {name!r}")
        return 2
    (bad, good), seconds, _ = execute([broken, fixed], nginx, keep=False, base_port=base_port)
    ok = bad.matched and good.matched
    if fmt == "json":
        from mtls_doctor.report.json import document, dumps, envelope, lab_result

        data = {"matched": ok, "seconds": round(seconds, 3),
                "broken": lab_result(bad.to_dict()), "fixed": lab_result(good.to_dict())}
        from mtls_doctor.diagnose import run_on_lab_scenario

        diagnosis = run_on_lab_scenario(name, nginx=nginx)
        data["diagnose"] = document(diagnosis.report)  # the `diagnose` document, as is
        sys.stdout.write(dumps(envelope("demo", data)))
    else:
        _render(broken, fixed, bad, good, seconds)
        from mtls_doctor.cli.diagnose import demo_section

        diagnosis = demo_section(name, nginx)
    ok = ok and diagnosis.top is not None
    return 0 if ok else 1


def _render(broken: Any, fixed: Any, bad: Any, good: Any, seconds: float) -> None:
    from rich.table import Table
    from rich.text import Text

    from mtls_doctor.cli.console import console, heading
    from mtls_doctor.cli.lab import short_page

    out = console()
    heading(out, "mtls-doctor demo")
    out.print(Text(
        f"Broken: {broken.title}.\nFixed:  {fixed.title}.\n"
        f"Both ran on real nginx ({bad.nginx}) on 127.0.0.1 with a freshly generated lab PKI; "
        f"the same TLS clients connected to each (Python ssl, system OpenSSL), {seconds:.1f} s."))

    out.print()
    heading(out, "1. The configuration (server blocks; only the marked lines differ)")
    diff = difflib.unified_diff(_server_block(broken), _server_block(fixed),
                                f"broken: {broken.name}", f"fixed: {fixed.name}", lineterm="", n=2)
    out.print(Text("\n".join(diff) or "(identical server blocks)"))

    out.print()
    heading(out, "2. What nginx answered (measured)")
    table = []
    fixed_rows = {r.client_id: r for r in good.rows}
    broken_ids = {r.client_id for r in bad.rows}
    pairs = [(r, fixed_rows.get(r.client_id)) for r in bad.rows]
    pairs += [(None, r) for r in good.rows if r.client_id not in broken_ids]
    for row, other in pairs:
        cells = [(row or other).client_id]
        for r in (row, other):
            cells += [_status(r), (r.ssl_client_verify or "-") if r else "-"] if r else ["-", "-"]
        table.append(cells)
    from mtls_doctor.report.text import print_table

    print_table(out, ("client", "broken: HTTP", "broken: $ssl_client_verify", "fixed: HTTP",
                      "fixed: $ssl_client_verify"), table, prose=(2, 4))

    out.print()
    heading(out, "3. What went wrong (nginx's own words, error_log ... info)")
    notes = {c.id: c.note for c in broken.clients}
    wrong = [r for r, other in pairs if r is not None and _differs(r, other)]
    for row in wrong:
        out.print(Text(f"{row.client_id}: HTTP {_status(row)}, page {short_page(row)!r}, "
                       f"$ssl_client_verify={row.ssl_client_verify or '-'}"))
        if notes.get(row.client_id):
            out.print(Text(f"    ({notes[row.client_id]})"))
        if row.log_line:
            out.print(Text(f"    {row.log_line}"))
    out.print()
    heading(out, "4. Why, and the fix")
    out.print(Text(f"Why: {broken.demonstrates}\nFacts: {' '.join(broken.facts)} "
                   "(docs/nginx-mtls-facts.md)"))
    out.print(Text(f"Fix: {broken.fix}"))
    out.print(Text(f"With the fix: {fixed.demonstrates}"))
    verdict = "as the facts sheet says" if bad.matched and good.matched else \
        "NOT as expected: see `mtls-doctor lab run " + f"{broken.name} {fixed.name}`"
    out.print(Text(f"Both scenarios behaved {verdict}. More: `mtls-doctor lab list`, "
                   "`mtls-doctor lab run`."))


def _server_block(scenario: Any) -> list[str]:
    """The scenario's server blocks rendered with fixed ports (a stable diff), no comment."""
    return [line for line in scenario.render((8443, 8080)).splitlines()
            if not line.startswith("# scenario ")]


def _differs(row: Any, other: Any) -> bool:
    """The broken answer differs from the fixed one (or, unpaired, is not a plain success)."""
    from mtls_doctor.cli.lab import short_page

    if other is None:
        return row.status != 200 or row.ssl_client_verify != "SUCCESS"
    return (row.status, row.ssl_client_verify, short_page(row)) != \
        (other.status, other.ssl_client_verify, short_page(other))


def _status(row: Any) -> str:
    if row.status is None:
        return "no TLS"
    return str(row.status)
