"""Score `mtls-doctor lint` on the real-world config corpus (tests/corpus/lint).

Run: .venv/bin/python bench/score_lint_corpus.py [--out docs/lint-accuracy.md] [--no-write] [--per-version] [NAME...]
A baseline next to it: git archive <commit> src | tar -x -C /tmp/base, then add
--baseline-src /tmp/base/src --baseline-name <commit>.

What it does:
- every ``tests/corpus/lint/<name>.labels.yaml`` names one configuration (a file, the main file of a
  tree, an ``nginx -T`` dump, a fragment, a template or YAML carrying nginx config) and its labelled
  mistakes (family, file:line, what is wrong, fact id, source URL); ``clean: true`` entries have none;
- the scorer runs ``mtls-doctor lint --format json --nginx-version V`` on each (V from the label,
  else DEFAULT_NGINX_VERSION so the figures do not depend on the machine's nginx), with the input-form
  options the label asks for when this lint offers them (``--context`` for fragments, ``--prefix``);
  ``nginx -T`` dumps are piped to ``lint -``;
- a finding *finds* a label when its rule code belongs to the label's family (or to one of the
  families the label also accepts) in FAMILY_RULES below, it points at the same file, and its line
  is within LINE_TOLERANCE lines of the labelled line (a rule may anchor at the directive, its block
  or the location that uses it; 3 lines covers those without letting a finding of another server
  count);
- recall per family = labels found / labels; precision per family = findings of that family's
  rules that find a label of the config / all findings of those rules (on every config, clean ones
  included); findings of rules in no family (noise such as missing files, MTLS401) are counted
  apart, by rule;
- on clean configs every finding of severity error or critical is listed ("error-severity false
  findings"), missing-file findings (MISSING_FILE_RULES) counted separately, because the corpus ships
  configs without their certificates, as a config checked in CI without its secrets would be.

The figures are a measurement, not a test: nothing here asserts a score.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "lint"
DOCS_OUT = ROOT / "docs" / "lint-accuracy.md"
DEFAULT_NGINX_VERSION = "1.22.1"
LINE_TOLERANCE = 3
TIMEOUT_S = 60

# The one place that says which rule codes count as finding which family. A code belongs to one
# family; a label that may be found by another family's rule says so with `accept:`.
FAMILY_RULES: dict[str, list[str]] = {
    "bypass-by-other-listener": ["MTLS214", "MTLS262"],
    "upstream-mtls-client": ["MTLS240", "MTLS241", "MTLS242", "MTLS243", "MTLS244"],
    "ciphers-seclevel": ["MTLS223", "MTLS224"],
    "dn-string-comparison": ["MTLS406", "MTLS407", "MTLS408", "MTLS409"],
    "forwarded-dn-format": ["MTLS410"],
    "raw-cert-header": ["MTLS404", "MTLS411"],
    "optional-unchecked": ["MTLS201", "MTLS202"],
    "nginx-t-refusal": ["MTLS204", "MTLS213", "MTLS250", "MTLS251", "MTLS252", "MTLS253", "MTLS254", "MTLS293"],
    "path-level": ["MTLS232", "MTLS235", "MTLS236", "MTLS237", "MTLS238"],
    "depth": ["MTLS207"],
    "missing-root/chain": ["MTLS102", "MTLS103", "MTLS231", "MTLS234", "MTLS239"],
    "crl": ["MTLS115", "MTLS301", "MTLS302"],
    "ocsp": ["MTLS303", "MTLS304", "MTLS305", "MTLS306"],
    "sni-default-server": ["MTLS210", "MTLS211", "MTLS212", "MTLS501", "MTLS513"],
    "identity-header-forgeable": ["MTLS402", "MTLS403", "MTLS405", "MTLS412"],
    "trust-settings": ["MTLS203", "MTLS205", "MTLS206", "MTLS208"],
    "version-gate": ["MTLS209", "MTLS220"],
    "stream-mail": ["MTLS260", "MTLS261"],
    "template-hazard": ["MTLS290", "MTLS291"],
}
FAMILIES = list(FAMILY_RULES)
#: what the figures cannot show (kept with the scorer so the page says it every time)
NOTES = [
    "- depth and CRL coverage without the files: the chain length or the CRL issuers are in the "
    "certificate files, which the corpus does not ship; a comment describing the chain is not "
    "evidence lint reads. With the files (the `files-*` trees) MTLS207 and MTLS301 find them.",
    "- the corpus entries named `new-*` were written after the rules they exercise: their figures "
    "are not held-out figures; the held-out corpus of the issue is the test of generalisation.",
    "- per nginx version: labels are written for the default version; a pinned `nginx_version` "
    "keeps its version, `min_nginx` leaves a config out where that nginx lacks its directives.",
    "- the entries named `field-*` (and `port-proxy-ssl-certificate-t`), 15 configurations from "
    "public repositories and docs, were labelled and scored before any rule change (commit "
    "bf28a40): recall 0.85 (11/13), precision 0.55 (12/22), 1 error-severity false finding on a "
    "clean config (MTLS201 on an `internal` error-page location). After the fixes of 4db69e8 and "
    "c2a0a82: recall 1.00 (13/13; one label found only once `accept: path-level` named MTLS238's "
    "family), precision 0.67 (14/21), 0. Left: MTLS410 (info) on 4 DN headers the labels do not "
    "count as mistakes, MTLS202's warning where the backend verifies the certificate, MTLS201 "
    "on the nginx-tests echo upstream, MTLS237 on a self-signed certificate used as its own CA.",
]
CODE_FAMILY = {code: fam for fam, codes in FAMILY_RULES.items() for code in codes}
# Missing certificate/key/CA/CRL files: expected on a corpus shipped without its secrets.
MISSING_FILE_RULES = {"MTLS230", "MTLS294"}
SEVERE = {"error", "critical"}
FORMS = ["file", "tree", "nginx-T", "server-fragment", "location-fragment", "http-fragment",
         "include-snippet", "template-envsubst", "template-jinja", "template-erb",
         "template-mustache", "template-helm", "template-sed", "yaml-configmap", "yaml-helm",
         "yaml-ansible", "stream", "mail", "openresty"]


ROOTS = ("bullseye", "trixie", "sid")


def root_versions() -> list[tuple[str, str]]:
    """(root, nginx version) of the Debian roots of tools/roots.sh that are installed here: the
    version each root's own nginx reports (`nginx -v`), so the figures follow what is measured."""
    sys.path.insert(0, str(ROOT / "src"))
    from mtls_doctor.nginx.local import nginx_command

    out = []
    for root in ROOTS:
        done = subprocess.run([str(ROOT / "tools" / "roots.sh"), "nginx", root], capture_output=True,
                              text=True, timeout=120)
        binary = (done.stdout.strip().splitlines() or [""])[-1]
        if done.returncode != 0 or not pathlib.Path(binary).exists():
            print(f"root {root}: no nginx ({(done.stderr.strip().splitlines() or ['?'])[-1]})", file=sys.stderr)
            continue
        ver = subprocess.run([*nginx_command(binary), "-v"], capture_output=True, text=True, timeout=30)
        m = re.search(r"nginx/(\d+\.\d+\.\d+)", ver.stderr + ver.stdout)
        if m:
            out.append((root, m.group(1)))
    return out


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def load_entries(names: list[str] | None = None) -> list[dict]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    entries = []
    for p in sorted(CORPUS.glob("*.labels.yaml")):
        name = p.name[: -len(".labels.yaml")]
        if names and name not in names:
            continue
        doc = yaml.load(p.read_text())
        doc["name"] = name
        doc.setdefault("mistakes", [])
        entries.append(doc)
    return entries


def lint_options(binary: list[str], env: dict | None) -> set[str]:
    """The long options this lint offers (input-form options are added over time)."""
    out = subprocess.run([*binary, "lint", "--help"], capture_output=True, text=True, env=env).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]+)", out))


def command_for(entry: dict, binary: list[str], offered: set[str],
                version: str = DEFAULT_NGINX_VERSION) -> tuple[list[str], bytes | None]:
    """The lint command for one entry: judged for ``version`` unless the label pins one."""
    cmd = [*binary, "lint", "--format", "json",
           "--nginx-version", str(entry.get("nginx_version") or version)]
    if entry.get("at"):
        cmd += ["--at", str(entry["at"])]
    if entry.get("context") and "--context" in offered:
        cmd += ["--context", entry["context"]]
    if entry.get("prefix") and "--prefix" in offered:
        cmd += ["--prefix", str(CORPUS / entry["prefix"])]
    path = CORPUS / entry["config"]
    if entry.get("stdin"):
        return cmd + ["-"], path.read_bytes()
    return cmd + [str(path)], None


def dump_sections(text: str) -> dict[str, int]:
    """`nginx -T` dump: embedded path -> dump line number of its header."""
    out = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^# configuration file (.+):\s*$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = i
    return out


def finding_place(f: dict, entry: dict, sections: dict[str, int] | None) -> tuple[str | None, int | None]:
    """(corpus-relative file, line) of a finding; dumps are mapped back to dump lines."""
    loc = f.get("location") or {}
    path = loc.get("file") or loc.get("path") or f.get("path")
    line = loc.get("line") if loc.get("line") is not None else f.get("line")
    if path is None:
        return None, line
    if sections is not None:
        if path in sections and line is not None:
            return entry["config"], sections[path] + line
        if path in ("-", "<stdin>", "stdin"):
            return entry["config"], line
    try:
        return str(pathlib.Path(path).resolve().relative_to(CORPUS)), line
    except ValueError:
        return path, line


def label_place(label: dict) -> tuple[str, int]:
    return split_place(label["line"])


def split_place(place: str) -> tuple[str, int | None]:
    """`file:line`, or a bare `file` (a finding about the file's content, which has no line)."""
    rel, _, ln = place.rpartition(":")
    if not rel or not ln.isdigit():
        return place, None
    return rel, int(ln)


def label_places(label: dict) -> list[tuple[str, int]]:
    """The labelled line and the other lines where the same mistake may be reported (`also_at`:
    a mistake between two servers, e.g. a verifying server and the default or plain one that
    bypasses it, is as much at one as at the other)."""
    return [split_place(label["line"]), *(split_place(p) for p in label.get("also_at", []))]


def accepted_codes(label: dict) -> set[str]:
    fams = [label["family"], *label.get("accept", [])]
    return {c for fam in fams for c in FAMILY_RULES.get(fam, [])}


def run_entry(entry: dict, binary: list[str], offered: set[str], env: dict | None,
              version: str = DEFAULT_NGINX_VERSION) -> dict:
    cmd, stdin = command_for(entry, binary, offered, version)
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT_S, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {TIMEOUT_S} s", "findings": [], "cmd": cmd}
    try:
        report = json.loads(proc.stdout.decode())
    except ValueError:
        err = (proc.stderr.decode().strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {err[:200]}", "findings": [], "cmd": cmd}
    sections = dump_sections((CORPUS / entry["config"]).read_text()) if entry.get("stdin") else None
    findings = []
    for f in report.get("findings", []):
        rel, line = finding_place(f, entry, sections)
        findings.append({"rule": f.get("rule"), "severity": f.get("severity"), "file": rel,
                         "line": line, "message": f.get("message", "")})
    return {"error": None, "findings": findings, "cmd": cmd, "exit": proc.returncode}


def near(finding: dict, label: dict) -> bool:
    for rel, ln in label_places(label):
        if finding["file"] != rel:
            continue
        if ln is None or (finding["line"] is not None and abs(finding["line"] - ln) <= LINE_TOLERANCE):
            return True
    return False


def matches(finding: dict, label: dict) -> bool:
    return finding["rule"] in accepted_codes(label) and near(finding, label)


def score(entries: list[dict], results: dict[str, dict]) -> dict:
    fam = {f: {"labels": 0, "found": 0, "findings": 0, "tp_findings": 0, "severe_fp": 0} for f in FAMILIES}
    forms: dict[str, dict] = {}
    misses, false_findings, clean_severe, clean_missing = [], [], [], []
    unmapped: dict[str, int] = {}
    missing_file_counts = []
    errors = []
    for e in entries:
        r = results[e["name"]]
        if r["error"]:
            errors.append((e["name"], r["error"]))
        fm = forms.setdefault(e["form"], {"configs": 0, "clean": 0, "labels": 0, "found": 0})
        fm["configs"] += 1
        fm["clean"] += 1 if e.get("clean") else 0
        for lab in e["mistakes"]:
            fam[lab["family"]]["labels"] += 1
            fm["labels"] += 1
            hit = [f for f in r["findings"] if matches(f, lab)]
            if hit:
                fam[lab["family"]]["found"] += 1
                fm["found"] += 1
            else:
                nearby = sorted({f["rule"] for f in r["findings"] if near(f, lab)})
                misses.append((e["name"], lab, nearby, r["error"]))
        nmiss = 0
        for f in r["findings"]:
            if f["rule"] in MISSING_FILE_RULES:
                nmiss += 1
            family = CODE_FAMILY.get(f["rule"])
            if family is None:
                unmapped[f["rule"]] = unmapped.get(f["rule"], 0) + 1
            else:
                fam[family]["findings"] += 1
                if any(matches(f, lab) for lab in e["mistakes"]):
                    fam[family]["tp_findings"] += 1
                else:
                    false_findings.append((e["name"], family, f))
                    if f["severity"] in SEVERE:
                        fam[family]["severe_fp"] += 1
            if e.get("clean") and f["severity"] in SEVERE:
                (clean_missing if f["rule"] in MISSING_FILE_RULES else clean_severe).append((e["name"], f))
        missing_file_counts.append(nmiss)
    tot_l = sum(v["labels"] for v in fam.values())
    tot_f = sum(v["found"] for v in fam.values())
    tot_find = sum(v["findings"] for v in fam.values())
    tot_tp = sum(v["tp_findings"] for v in fam.values())
    return {"families": fam, "forms": forms, "misses": misses, "false_findings": false_findings,
            "clean_severe": clean_severe, "clean_missing": clean_missing, "unmapped": unmapped,
            "errors": errors, "total": {"labels": tot_l, "found": tot_f, "findings": tot_find,
                                        "tp_findings": tot_tp},
            "missing_file_counts": missing_file_counts,
            "configs": len(entries), "clean_configs": sum(1 for e in entries if e.get("clean"))}


def ratio(a: int, b: int) -> str:
    return "n/a" if b == 0 else f"{a / b:.2f}"


def render(s: dict, command: str, when: str, commit: str, offered: set[str],
           base: dict | None = None, base_name: str | None = None,
           per_version: list[tuple[str, str, dict]] | None = None) -> str:
    t = s["total"]
    mf = s["missing_file_counts"]
    lines = [
        "# lint accuracy on the real-world config corpus",
        "",
        "Generated by `bench/score_lint_corpus.py`; do not edit by hand. The corpus "
        "(`tests/corpus/lint/`, see its README) holds configurations written from patterns found in "
        "public repositories and Q&A pages, each with a labels file naming its mistakes "
        "(family, file:line, what is wrong, fact id, source).",
        "",
        f"- date: {when}",
        f"- command: `{command}`",
        f"- commit: {commit}",
        f"- nginx version judged: {DEFAULT_NGINX_VERSION} unless a label says otherwise; "
        f"line tolerance ±{LINE_TOLERANCE}",
        f"- input-form options this lint offers: "
        f"{', '.join(sorted(o for o in offered if o in ('--context', '--prefix'))) or 'none'}",
        f"- configs: {s['configs']} ({s['clean_configs']} clean), labelled mistakes: {t['labels']}",
        "",
        f"**Overall recall {ratio(t['found'], t['labels'])}** ({t['found']}/{t['labels']}), "
        f"**precision {ratio(t['tp_findings'], t['findings'])}** "
        f"({t['tp_findings']}/{t['findings']} findings of family rules), "
        f"**error-severity false findings on clean configs: {len(s['clean_severe'])}** "
        f"(plus {len(s['clean_missing'])} error-severity missing-file findings).",
        f"Missing-file findings ({', '.join(sorted(MISSING_FILE_RULES))}) per config: "
        f"mean {sum(mf) / max(1, len(mf)):.1f}, max {max(mf) if mf else 0}.",
        "",
    ]
    if base is not None:
        bt = base["total"]
        lines += [f"Baseline ({base_name}, same corpus and mapping): recall "
                  f"{ratio(bt['found'], bt['labels'])} ({bt['found']}/{bt['labels']}), precision "
                  f"{ratio(bt['tp_findings'], bt['findings'])}, error-severity false findings on clean "
                  f"configs {len(base['clean_severe'])} (plus {len(base['clean_missing'])} missing-file).", ""]
    if per_version:
        lines += ["## Per nginx version", "",
                  "The same corpus judged for the nginx of each Debian root (`tools/roots.sh`; the version "
                  "gates come from `nginx/version.py`). Entries whose label pins a version keep it; entries "
                  "that use directives an older nginx lacks (`min_nginx` in the label) are left out there.", "",
                  "| nginx (root) | configs | recall | precision | error-severity false on clean | lint failed | missed |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for root, ver, vs in per_version:
            vt = vs["total"]
            missed = ", ".join(f"{n} ({lab['family']})" for n, lab, _, _ in vs["misses"][:6])
            more = len(vs["misses"]) - 6
            skipped = f" ({vs.get('skipped', 0)} newer-only left out)" if vs.get("skipped") else ""
            lines.append(f"| {ver} ({root}) | {vs['configs']}{skipped} | {ratio(vt['found'], vt['labels'])} ({vt['found']}/{vt['labels']}) | "
                         f"{ratio(vt['tp_findings'], vt['findings'])} ({vt['tp_findings']}/{vt['findings']}) | "
                         f"{len(vs['clean_severe'])} | {len(vs['errors'])} | {missed}{f' and {more} more' if more > 0 else ''} |")
        lines.append("")
    head = "| family | labels | found | recall | findings | true | precision | error-severity false |"
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if base is not None:
        head += " baseline recall | baseline precision |"
        sep += "---:|---:|"
    lines += ["## Per family", "", head + " rule codes |", sep + "---|"]
    for f in FAMILIES:
        v = s["families"][f]
        row = (f"| {f} | {v['labels']} | {v['found']} | {ratio(v['found'], v['labels'])} | "
               f"{v['findings']} | {v['tp_findings']} | {ratio(v['tp_findings'], v['findings'])} | "
               f"{v['severe_fp']} |")
        if base is not None:
            b = base["families"][f]
            row += f" {ratio(b['found'], b['labels'])} | {ratio(b['tp_findings'], b['findings'])} |"
        lines.append(row + f" {', '.join(FAMILY_RULES[f]) or '(none yet)'} |")
    lines += ["", "## Per input form", "", "| form | configs | clean | labels | found | recall |",
              "|---|---:|---:|---:|---:|---:|"]
    for form in sorted(s["forms"], key=lambda x: FORMS.index(x) if x in FORMS else 99):
        v = s["forms"][form]
        lines.append(f"| {form} | {v['configs']} | {v['clean']} | {v['labels']} | {v['found']} | "
                     f"{ratio(v['found'], v['labels'])} |")
    lines += ["", "## Error-severity findings on clean configs", ""]
    if not s["clean_severe"]:
        lines.append("None (missing-file findings counted apart).")
    for name, f in s["clean_severe"]:
        lines.append(f"- {name}: {f['rule']} ({f['severity']}) {f['file']}:{f['line']}: "
                     f"{f['message'][:160]}")
    lines += ["", "## What is still missed, and why", "", *NOTES, "", "## Missed labels", ""]
    for name, lab, near, err in s["misses"]:
        why = f"lint failed: {err}" if err else (f"nearby: {', '.join(near)}" if near else "no finding near")
        lines.append(f"- {name} `{lab['line']}` [{lab['family']}]: {lab['what'][:140]} ({why})")
    lines += ["", "## Findings of family rules that match no label", ""]
    for name, family, f in s["false_findings"]:
        lines.append(f"- {name}: {f['rule']} [{family}] {f['severity']} {f['file']}:{f['line']}: "
                     f"{f['message'][:140]}")
    lines += ["", "## Findings of rules in no family (not scored)", "",
              "| rule | findings |", "|---|---:|"]
    for code, n in sorted(s["unmapped"].items()):
        lines.append(f"| {code} | {n} |")
    if s["errors"]:
        lines += ["", "## Configs lint could not read", ""]
        lines += [f"- {n}: {e}" for n, e in s["errors"]]
    return "\n".join(lines) + "\n"


def print_summary(s: dict) -> None:
    t = s["total"]
    print(f"configs {s['configs']} ({s['clean_configs']} clean), labels {t['labels']}")
    print(f"{'family':28} {'labels':>6} {'found':>5} {'recall':>6} {'finds':>5} {'true':>5} {'prec':>5} {'errFP':>5}")
    for f in FAMILIES:
        v = s["families"][f]
        print(f"{f:28} {v['labels']:6} {v['found']:5} {ratio(v['found'], v['labels']):>6} "
              f"{v['findings']:5} {v['tp_findings']:5} {ratio(v['tp_findings'], v['findings']):>5} {v['severe_fp']:5}")
    print(f"{'TOTAL':28} {t['labels']:6} {t['found']:5} {ratio(t['found'], t['labels']):>6} "
          f"{t['findings']:5} {t['tp_findings']:5} {ratio(t['tp_findings'], t['findings']):>5}")
    print(f"error-severity false findings on clean configs: {len(s['clean_severe'])} "
          f"(+{len(s['clean_missing'])} missing-file)")
    for name, f in s["clean_severe"]:
        print(f"  {name}: {f['rule']} {f['file']}:{f['line']}")
    if s["errors"]:
        print(f"configs lint could not read: {len(s['errors'])}")
        for n, e in s["errors"]:
            print(f"  {n}: {e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="only these corpus entries")
    ap.add_argument("--out", default=str(DOCS_OUT), help="markdown report (default docs/lint-accuracy.md)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--src", help="score the mtls_doctor package in this src directory (e.g. an "
                    "older commit unpacked with `git archive`) instead of the installed one")
    ap.add_argument("--baseline-src", help="also score this src directory and put its figures next "
                    "to the current ones")
    ap.add_argument("--baseline-name", default="baseline", help="what to call the baseline (a commit id)")
    ap.add_argument("--per-version", action="store_true", help="also score the corpus judged for the nginx "
                    "version of each Debian root (tools/roots.sh: bullseye, trixie, sid)")
    args = ap.parse_args(argv)
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.exists():
        print(f"{venv_python}: not found (run ./dev.sh first)", file=sys.stderr)
        return 2
    binary = [str(venv_python), "-m", "mtls_doctor"]
    env = None
    if args.src:
        import os

        env = {**os.environ, "PYTHONPATH": str(pathlib.Path(args.src).resolve())}
    entries = load_entries(args.names or None)
    if not entries:
        print("no corpus entries", file=sys.stderr)
        return 2
    offered = lint_options(binary, env)
    results = {e["name"]: run_entry(e, binary, offered, env) for e in entries}
    s = score(entries, results)
    base = None
    if args.baseline_src:
        import os

        benv = {**os.environ, "PYTHONPATH": str(pathlib.Path(args.baseline_src).resolve())}
        boffered = lint_options(binary, benv)
        base = score(entries, {e["name"]: run_entry(e, binary, boffered, benv) for e in entries})
        print(f"--- baseline {args.baseline_name}")
        print_summary(base)
        print("--- current")
    per_version = []
    if args.per_version:
        for root, ver in root_versions():
            # an entry that uses what an older nginx lacks says so (`min_nginx`): judged from there on
            ents = [e for e in entries if not e.get("min_nginx") or _vt(ver) >= _vt(str(e["min_nginx"]))]
            vs = score(ents, {e["name"]: run_entry(e, binary, offered, env, ver) for e in ents})
            vs["skipped"] = len(entries) - len(ents)
            t = vs["total"]
            print(f"--- nginx {ver} ({root}): recall {ratio(t['found'], t['labels'])}, precision "
                  f"{ratio(t['tp_findings'], t['findings'])}, error-severity false on clean {len(vs['clean_severe'])}"
                  f", configs lint could not read {len(vs['errors'])}")
            for name, err in vs["errors"]:
                print(f"  could not read {name}: {err}")
            for name, lab, _, _ in vs["misses"]:
                print(f"  missed {name} {lab['line']} [{lab['family']}]")
            per_version.append((root, ver, vs))
        print(f"--- nginx {DEFAULT_NGINX_VERSION} (default)")
    print_summary(s)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if not args.no_write and not args.names:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        command = ".venv/bin/python bench/score_lint_corpus.py" + (f" --src {args.src}" if args.src else "")
        if args.baseline_src:
            command += f" --baseline-src {args.baseline_src} --baseline-name {args.baseline_name}"
        if args.per_version:
            command += " --per-version"
        text = render(s, command, when, commit if not args.src else f"{commit} (scored: {args.src})", offered,
                      base, args.baseline_name, per_version)
        pathlib.Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
