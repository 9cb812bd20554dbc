"""``mtls-doctor inspect FILE...``: certificate facts, the chain tree, CA names, findings.

Thin: parse options -> load (mtls_doctor.pki.load) -> facts/tree/rules (pure, explicit ``at``)
-> render (JSON via cli.common.emit, text with rich) -> exit 0/1/2.

JSON shape (``schema_version`` 1, command ``inspect``):
- ``files``: per input ``path``, ``format``, ``role`` (after ``auto``), ``certificates`` (count),
  ``ca_names`` and ``ca_names_size`` of that file alone;
- ``certificates``: every certificate of every file, in order, with ``file``, ``location``
  (``path#index``) and the facts of ``mtls_doctor.pki.facts.CertFacts`` (``subject``, ``issuer``,
  ``serial``, ``not_before``, ``not_after``, ``days_left``, ``is_ca``, ``sha256``, ...);
- ``tree``: nested nodes ``{location, subject, issuer, kind, self_signed, issuer_found,
  duplicate_of, children}`` over all files (links across files too);
- ``ca_names`` / ``ca_names_size``: what nginx would advertise if all inputs were concatenated
  into one ``ssl_client_certificate`` file (F1.1);
- ``crls``, ``keys`` (public facts only: type, bits, line), ``findings``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import click

from mtls_doctor.cli.common import fail, fail_on_option, format_option, parse_at, password_bytes, password_option

ROLE_CHOICES = ("auto", "ca", "client", "server", "any")


@click.command("inspect")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@password_option("PKCS#12 files")
@click.option(
    "--role",
    type=click.Choice(ROLE_CHOICES),
    default="auto",
    show_default=True,
    help="What the files are for: ca (ssl_client_certificate), client (leaf + chain it sends), "
    "server (ssl_certificate), any; auto = ca when every certificate is a CA, else any.",
)
@click.option("--at", "at_text", metavar="TIME",
              help="Judge validity at this ISO 8601 time (default: now).")
@format_option()
@fail_on_option()
def command(
    files: tuple[str, ...], password: str | None, role: str, at_text: str | None, fmt: str, fail_on: str
) -> int:
    """Inspect certificate files (PEM, DER, PKCS#7, PKCS#12, CRLs; '-' for stdin): facts per
    certificate, the chain tree, the CA names nginx would advertise, and problems.

    Private keys found in the files are reported, never printed. Exit 0 when no finding is at or
    above --fail-on, 1 when one is, 2 when no input could be read or on usage errors.
    """
    from mtls_doctor.model import Report, Severity
    from mtls_doctor.pki.load import NOT_STRICT_DER, load_path

    at = parse_at(at_text)
    if list(files).count("-") > 1:
        fail("stdin ('-') can be given only once")
    pw = password_bytes(password)
    bundles = [load_path(f, pw) for f in files]
    # a certificate only OpenSSL can read is something to report (MTLS013), not unreadable input
    if not any(b.usable or any(p.kind == NOT_STRICT_DER for p in b.problems) for b in bundles):
        reasons = "; ".join(
            f"{b.source}: {b.problems[0].message}" if b.problems else f"{b.source}: nothing found"
            for b in bundles
        )
        fail(f"no certificate, CRL or key could be read ({reasons})")
    data, findings = build(bundles, role, at)
    report = Report(command="inspect", findings=findings, data=data)
    from mtls_doctor.cli.common import emit

    emit(report, fmt, render_text)
    return report.exit_code(Severity(fail_on))


def build(bundles: list, role: str, at: datetime) -> tuple[dict[str, Any], tuple]:
    """The report data and findings for loaded bundles (pure: no I/O, explicit ``at``)."""
    from mtls_doctor.pki.facts import advertised_ca_names, all_facts, ca_names_wire_size, iso
    from mtls_doctor.pki.tree import build_tree
    from mtls_doctor.rules import bundle as bundle_rules

    findings: list = []
    files_out, certs_out, keys_out, crls_out = [], [], [], []
    refs: list[tuple[str, int, Any]] = []  # (source, index, facts) over all files
    all_certs = []
    for b in bundles:
        facts = all_facts(b.certificates, at)
        tree = build_tree(b.certificates)
        file_role = bundle_rules.infer_role(b, tree) if role == "auto" else role
        findings.extend(bundle_rules.check(b, file_role, at, facts, tree))
        files_out.append(
            {
                "path": b.source,
                "format": b.format,
                "role": file_role,
                "certificates": len(b.certificates),
                "ca_names": advertised_ca_names(b.certificates),
                "ca_names_size": ca_names_wire_size(b.certificates),
            }
        )
        for f, line in zip(facts, b.cert_lines or [None] * len(facts)):
            entry = {"file": b.source, "location": f"{b.source}#{f.index}", "line": line}
            entry.update(f.to_dict())
            certs_out.append(entry)
            refs.append((b.source, f.index, f))
        for k in b.keys:
            keys_out.append({"file": b.source, **k.to_dict()})
        for crl in b.crls:
            crls_out.append(_crl_dict(b.source, crl, at, iso))
        all_certs.extend(b.certificates)

    # One file: its tree is the tree; several: link across files (root in one, leaf in another).
    one = len(bundles) == 1
    tree = tree if one else build_tree(all_certs)

    def node(i: int) -> dict[str, Any]:
        source, index, f = refs[i]
        n = tree.nodes[i]
        return {
            "location": f"{source}#{index}",
            "subject": f.subject,
            "issuer": f.issuer,
            "kind": n.kind,
            "self_signed": n.self_signed,
            "issuer_found": n.issuer_found,
            "duplicate_of": None
            if n.duplicate_of is None
            else f"{refs[n.duplicate_of][0]}#{refs[n.duplicate_of][1]}",
            "children": [],
        }

    data = {
        "at": iso(at),
        "files": files_out,
        "certificates": certs_out,
        "tree": _nested(tree, node),
        "ca_names": files_out[0]["ca_names"] if one else advertised_ca_names(all_certs),
        "ca_names_size": files_out[0]["ca_names_size"] if one else ca_names_wire_size(all_certs),
        "crls": crls_out,
        "keys": keys_out,
    }
    return data, tuple(findings)


#: nesting of the JSON chain tree at most (OpenSSL verifies chains of at most 100 certificates,
#: X509_VERIFY_PARAM's default depth); deeper levels are counted in "children_not_shown", so
#: that a 10,000-certificate chain neither recurses nor nests JSON 10,000 deep
MAX_TREE_DEPTH = 100


def _nested(tree: Any, node: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """The chain tree as nested dicts, built with an explicit stack (no recursion)."""
    out: list[dict[str, Any]] = []
    stack = [(i, 0, out) for i in reversed(tree.tops)]
    while stack:
        i, depth, siblings = stack.pop()
        entry = node(i)
        siblings.append(entry)
        children = tree.nodes[i].children
        if children and depth + 1 >= MAX_TREE_DEPTH:
            entry["children_not_shown"] = len(children)
            continue
        stack.extend((c, depth + 1, entry["children"]) for c in reversed(children))
    return out


def _crl_dict(source: str, crl: Any, at: datetime, iso: Any) -> dict[str, Any]:
    from cryptography import x509

    from mtls_doctor.pki.facts import dn

    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except Exception:
        number = None
    next_update = crl.next_update_utc
    return {
        "file": source,
        "issuer": dn(crl.issuer),
        "last_update": iso(crl.last_update_utc),
        "next_update": iso(next_update) if next_update else None,
        "expired": bool(next_update and next_update < at),
        "crl_number": number,
        "revoked": len(crl),
    }


# --------------------------------------------------------------------------- text


def render_text(report: Any) -> None:
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.pki.facts import colon_hex
    from mtls_doctor.report.text import print_findings

    con = console()
    d = report.data
    for f in d["files"]:
        con.print(
            Text(f"{f['path']}: {f['format']}, {f['certificates']} certificate(s), role {f['role']}",
                 style="bold")
        )
    for c in d["certificates"]:
        con.print()
        head = Text(c["location"], style="magenta")
        head.append("  " + c["subject"], style="bold")
        con.print(head)
        days = c["days_left"]
        state = {"expired": f"EXPIRED {-days} days ago", "not-yet-valid": "NOT YET VALID"}.get(
            c["validity"], f"{days} days left"
        )
        rows = [
            ("issuer", c["issuer"]),
            ("serial", c["serial"]),
            ("validity", f"{c['not_before']} .. {c['not_after']} ({state})"),
            ("key", f"{c['key_type']} {c['key_bits'] or ''}".strip()),
            ("signature", c["signature_algorithm"]),
            (
                "CA",
                ("yes" if c["is_ca"] else "no")
                + (f", pathlen {c['path_length']}" if c["path_length"] is not None else "")
                + ("" if c["basic_constraints"] else " (no basicConstraints)"),
            ),
            ("key usage", _list(c["key_usage"])),
            ("ext key usage", _list(c["extended_key_usage"])),
            ("SAN", ", ".join(c["subject_alt_names"]) or "-"),
            ("SKI", colon_hex(c["subject_key_id"]) if c["subject_key_id"] else "-"),
            ("AKI", colon_hex(c["authority_key_id"]) if c["authority_key_id"] else "-"),
            ("SHA-256", colon_hex(c["sha256"])),
        ]
        for k, v in rows:
            line = Text(f"  {k:<14}", style="dim")
            line.append(str(v))
            con.print(line)
    for crl in d["crls"]:
        con.print()
        con.print(
            Text(
                f"CRL {crl['file']}: issuer {crl['issuer']}, {crl['revoked']} revoked, next update "
                f"{crl['next_update']}" + (" (EXPIRED)" if crl["expired"] else ""),
            )
        )
    for k in d["keys"]:
        con.print(Text(f"private key in {k['file']}: {k['type']} {k['bits'] or ''} (not shown)",
                       style="bold red"))
    if d["tree"]:
        con.print()
        con.print(Text("Chain tree (trust anchor -> intermediates -> leaves)", style="bold"))

        def add(n: dict[str, Any], depth: int) -> None:
            # plain indented lines: rich's Tree crops long lines on a non-terminal console
            label = Text("  " + "    " * min(depth, 12) + ("└── " if depth else ""))
            label.append(n["location"] + "  ", style="magenta")
            label.append(n["subject"] + "  ", style="bold" if n["kind"] != "leaf" else "")
            label.append(f"[{n['kind']}", style="cyan")
            if n["self_signed"] and n["kind"] == "leaf":
                label.append(", self-signed", style="yellow")
            if not n["issuer_found"]:
                label.append(f", issuer {n['issuer']} not in the files", style="yellow")
            if n["duplicate_of"]:
                label.append(f", copy of {n['duplicate_of']}", style="yellow")
            if n.get("children_not_shown"):
                label.append(f" (+{n['children_not_shown']} below, deeper than {MAX_TREE_DEPTH} "
                             "levels: not shown)", style="yellow")
            label.append("]", style="cyan")
            con.print(label)

        stack = [(n, 0) for n in reversed(d["tree"])]  # depth first, no recursion
        while stack:
            n, depth = stack.pop()
            add(n, depth)
            stack.extend((ch, depth + 1) for ch in reversed(n["children"]))
    for f in d["files"]:
        if f["role"] != "ca" or not f["ca_names"]:
            continue
        con.print()
        con.print(
            Text(
                f"CA names nginx would advertise with ssl_client_certificate {f['path']} "
                f"({len(f['ca_names'])} names, {f['ca_names_size']} bytes in the "
                "CertificateRequest, F1.1):",
                style="bold",
            )
        )
        for name in f["ca_names"]:
            con.print(Text("  " + name))
    con.print()
    print_findings(con, report.findings)


def _list(values: list[str] | None) -> str:
    if values is None:
        return "-"
    return ", ".join(values) or "(empty)"
