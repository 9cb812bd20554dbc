"""``mtls-doctor lint [PATH...]``: find mTLS mistakes in an nginx configuration.

PATH is a main configuration file, a directory (its nginx.conf, else every *.conf), or ``-``
for ``nginx -T`` output on stdin. Without PATH: run ``nginx -T`` (nginx on PATH or
/usr/sbin/nginx), else read /etc/nginx/nginx.conf. Exit 0 clean, 1 findings at or above
``--fail-on``, 2 unusable input.
"""

from __future__ import annotations

import os
import sys

import click

from mtls_doctor.cli.common import (complete_rule, emit, fail, fail_on_option, format_option, parse_at,
                                    resolve_target, target_options)
from mtls_doctor.nginx.local import find_local_nginx, run_nginx

DEFAULT_CONF = "/etc/nginx/nginx.conf"


def detect_version(nginx: str | None):
    from mtls_doctor.model import InputError
    from mtls_doctor.nginx.version import parse_version

    if nginx is None:
        return None
    done = run_nginx([nginx, "-v"])
    if done is None:
        return None
    try:
        return parse_version(done.stderr + done.stdout)
    except InputError:
        return None


def _openssl_release(text: str | None):
    """The OpenSSL release to lint for: --openssl-version, else that of the nginx found."""
    from mtls_doctor.model import InputError
    from mtls_doctor.pki.openssl_versions import parse_release

    if text is None:
        return None
    try:
        return parse_release(text)
    except InputError:
        return None


def _configs(paths: tuple[str, ...], nginx: str | None, prefix: str | None = None,
             context: str | None = None):
    """The parsed configurations to lint, in order."""
    from mtls_doctor.nginx.parse import DictReader, load_directory, load_path, parse_dump, parse_sources

    if not paths:
        if nginx is not None:
            done = run_nginx([nginx, "-T"])
            if done is not None and done.returncode == 0 and "# configuration file" in done.stdout:
                return [parse_dump(done.stdout)]
        if os.path.isfile(DEFAULT_CONF):
            return [load_path(DEFAULT_CONF)]
        fail(f"no PATH given, `nginx -T` did not work and {DEFAULT_CONF} does not exist")
    out = []
    for path in paths:
        if path == "-":
            from mtls_doctor.inputs import read_bytes
            from mtls_doctor.nginx.parse import MAX_FILE_BYTES

            text = read_bytes("-", limit=MAX_FILE_BYTES, what="stdin").decode("utf-8", "replace")
            if "# configuration file " in text:
                out.append(parse_dump(text))
            else:  # a plain configuration file (or a fragment) on stdin
                out.append(parse_sources("<stdin>", DictReader({"<stdin>": text}),
                                         prefix=os.path.abspath(prefix or os.getcwd()), context=context))
        elif os.path.isdir(path):
            out.extend(load_directory(path))
        else:
            out.append(load_path(path, prefix=prefix, context=context))
    return out


def _yaml_configs(paths: tuple[str, ...], prefix: str | None, context: str | None):
    """(configs from the YAML PATHs that carry nginx configuration, the other PATHs).

    A YAML file is read here when a string in it is nginx configuration and it is not a set of
    Kubernetes objects for the controllers' renderers (``k8s``: Ingress, Gateway ...); a file
    of ConfigMaps only is read here."""
    import dataclasses

    from mtls_doctor.inputs import read_bytes
    from mtls_doctor.k8s.manifests import MAX_INPUT_BYTES, looks_like_kubernetes, split_chunks
    from mtls_doctor.nginx.parse import DictReader, parse_sources
    from mtls_doctor.nginx.yamlsrc import YAML_SUFFIXES, nginx_in_yaml

    configs, rest = [], []
    for path in paths:
        if not path.endswith(YAML_SUFFIXES) or not os.path.isfile(path):
            rest.append(path)
            continue
        text = read_bytes(path, limit=MAX_INPUT_BYTES).decode("utf-8", "replace")
        if looks_like_kubernetes(text) and any(c.kind not in (None, "ConfigMap") for c in split_chunks(text)):
            rest.append(path)
            continue
        found = nginx_in_yaml(text, os.path.abspath(path))
        if not found:
            if looks_like_kubernetes(text):
                rest.append(path)
                continue
            fail(f"{path}: no nginx configuration in this YAML file (no string value reads like one)")
        base = os.path.abspath(prefix) if prefix else "/etc/nginx"  # where the config is deployed
        for item in found:
            config = parse_sources(item.path, DictReader({item.path: item.text}), prefix=base, context=context)
            # the YAML file itself for the text output's context lines
            configs.append(dataclasses.replace(config, sources={**config.sources, item.path: text}))
    return configs, tuple(rest)


@click.command("lint")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@target_options("The nginx to judge for and, without PATH, whose `nginx -T` to read (default: "
                "the nginx on PATH or in /usr/sbin; also one inside another OS root).")
@click.option("--at", "at", metavar="TIME", help="Judge expiry at this ISO 8601 time (default: now).")
@click.option("--no-files", is_flag=True, help="Do not open the certificate, key, CA and CRL files.")
@click.option("--nginx-t", "nginx_t", is_flag=True,
              help="Also run `nginx -t` (--nginx, or the nginx found) on the configuration in a private "
                   "sandbox (placeholders for missing files) and report what it refuses (MTLS250).")
@click.option("--select", multiple=True, metavar="CODE", shell_complete=complete_rule, help="Only these rules (code or prefix, e.g. MTLS2).")
@click.option("--ignore", multiple=True, metavar="CODE", shell_complete=complete_rule, help="Skip these rules (code or prefix).")
@click.option("--diff", "show_diff", is_flag=True,
              help="Print the mechanical fixes as a unified diff (apply with `git apply` or `patch -p1` "
                   "in the current directory; a file outside it is named from /: `patch -p1 -d /`); "
                   "one line on stderr names the findings without one.")
@click.option("--show-nginx", is_flag=True,
              help="Kubernetes manifests: print the nginx configuration each controller renders.")
@click.option("--context", "context", type=click.Choice(["http", "server", "location", "stream", "mail"]),
              help="The level a fragment's directives are at (default: detected; a whole "
                   "configuration is read as one).")
@click.option("--prefix", "prefix", metavar="DIR", type=click.Path(file_okay=False),
              help="nginx's configuration directory: relative include and ssl_* paths of a "
                   "fragment resolve against it, as nginx does (default: the nearest directory "
                   "above the fragment holding an nginx.conf, else its own).")
@format_option("sarif", "markdown", "html")
@click.option("--base", metavar="DIR", type=click.Path(file_okay=False),
              help="SARIF: the repository root file URIs are relative to (default: the git "
                   "work tree of the first PATH, else of the current directory).")
@fail_on_option()
def command(paths, nginx, nginx_version, openssl_version, at, no_files, nginx_t, select, ignore, show_diff,
            show_nginx, context, prefix, fmt, base, fail_on) -> int:
    """Find mTLS mistakes in an nginx configuration (file, directory, or - for `nginx -T` output)."""
    from mtls_doctor.model import Report, Severity
    from mtls_doctor.nginx.lint import lint_config, load_named_files
    from mtls_doctor.nginx.effective import effective
    from mtls_doctor.nginx.version import parse_version

    import gc

    # a 10,000-server config makes millions of small acyclic objects: the cyclic collector's
    # repeated full passes cost ~30% of the run and buy nothing in a short-lived command
    gc.disable()
    when = parse_at(at)
    target = resolve_target(nginx, nginx_version, openssl_version)
    nginx = target.build.path if target.build is not None else find_local_nginx()
    version = target.nginx_version or detect_version(nginx)
    openssl_text = target.openssl_version
    if openssl_text is None and nginx is not None:
        from mtls_doctor.nginx.local import describe_nginx

        build = describe_nginx(nginx)
        openssl_text = build.openssl_version if build is not None else None
    openssl = _openssl_release(openssl_text)
    select = _codes("--select", select)
    ignore = _codes("--ignore", ignore)
    from mtls_doctor.k8s.cli import lint_manifests_command, manifest_input

    yaml_configs, paths = _yaml_configs(tuple(paths), prefix, context)  # nginx config in YAML
    manifests = manifest_input(tuple(paths)) if paths else None  # Kubernetes manifests (issue 15)
    if manifests is not None and not yaml_configs:
        if show_diff:  # the findings are about annotations and fields: nothing to rewrite
            import contextlib

            from mtls_doctor.cli import console

            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                console.console.cache_clear()
                try:
                    code = lint_manifests_command(manifests, when, version, openssl, select, ignore, "text",
                                                  fail_on, False)
                finally:
                    console.console.cache_clear()
            sys.stderr.write("mtls-doctor: note: --diff rewrites nginx configuration files; Kubernetes manifests "
                             "have no mechanical fix (`mtls-doctor lint` without --diff names the annotation or "
                             "field to change)\n")
            return code
        return lint_manifests_command(manifests, when, version, openssl, select, ignore, fmt, fail_on, show_nginx)
    if manifests is not None:
        fail("give Kubernetes manifests and YAML files that carry nginx configuration in separate runs")
    configs = yaml_configs + (_configs(tuple(paths), nginx, prefix, context) if paths or not yaml_configs else [])
    findings, data = [], {}
    for config in configs:
        eff = effective(config)
        files = None if no_files else load_named_files(eff)
        oracle = _oracle(config, nginx) if nginx_t else None
        report = lint_config(config, when, version, files, select, ignore, eff=eff, openssl=openssl,
                             oracle=oracle)
        findings.extend(report.findings)
        data.setdefault("configs", []).append({**report.data, "context": config.context})
    if len(configs) > 1:  # nginx.conf and the conf.d file it includes (pre-commit passes both): once
        seen: set = set()
        findings = [f for f in findings if not ((key := (f.rule, f.location.path, f.location.line, f.message)) in seen
                                                or seen.add(key))]
    report = Report("lint", tuple(findings), {"nginx_version": str(version) if version else None,
                                              "openssl_version": str(openssl) if openssl else None,
                                              **data})
    if show_diff:
        _print_diff(configs, report.findings)
        return report.exit_code(Severity(fail_on))
    emit(report, fmt, lambda r: _render_text(r, configs), _attachments(configs))
    return report.exit_code(Severity(fail_on))


def _print_diff(configs, findings) -> None:
    """The mechanical fixes as a unified diff on stdout (paths relative to the current
    directory: `git apply`, `patch -p1`); one line on stderr naming the findings it cannot fix."""
    from collections import Counter

    from mtls_doctor.nginx.fixes import fix_plan
    from mtls_doctor.report.view import plural

    plan = fix_plan(configs, findings, os.getcwd())
    sys.stdout.write(plan.diff)
    if plan.manual:
        counts = Counter(f.rule for f in plan.manual)
        names = ", ".join(code if n == 1 else f"{code} x{n}" for code, n in sorted(counts.items()))
        done = f"the diff fixes {plural(len(plan.fixed), 'finding')}; " if plan.fixed else ""
        sys.stderr.write(f"mtls-doctor: note: {done}no mechanical fix for {plural(len(plan.manual), 'finding')} "
                         f"({names}): `mtls-doctor lint` without --diff says what to change\n")


def _attachments(configs):
    """The markdown/html report: the configuration's text, for the excerpts of the findings."""
    from mtls_doctor.report.view import Attachments

    sources: dict[str, str] = {}
    for config in configs:
        sources.update(config.sources)
    return Attachments(sources=sources)


def _oracle(config, nginx: str | None):
    """``nginx -t`` on ``config`` in a sandbox (nginx.oracle); one line and exit 2 without nginx."""
    from mtls_doctor.nginx.oracle import run_oracle

    if nginx is None:
        fail("--nginx-t needs an nginx binary: pass --nginx PATH")
    result = run_oracle(config, nginx)
    if result.error is not None:
        fail(f"--nginx-t: {result.error}")
    return result


def _codes(option: str, values) -> list[str]:
    """The rule codes or prefixes of --select/--ignore; one that matches no rule fails loudly
    (a typo must not silently select nothing and exit 0)."""
    from mtls_doctor.rules import REGISTRY

    codes = [c.strip() for s in values for c in s.split(",") if c.strip()]
    for code in codes:
        if not any(known.startswith(code.upper()) for known in REGISTRY):
            fail(f"{option} {code}: no rule code starts with it (`mtls-doctor rules` lists them)")
    return codes


def _render_text(report, configs) -> None:
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.report.text import print_findings
    from mtls_doctor.report.view import plural

    out = console()
    sources: dict[str, str] = {}
    for config in configs:
        sources.update(config.sources)
    version = report.data.get("nginx_version") or "unknown (rules state both behaviours)"
    openssl = report.data.get("openssl_version") or "unknown"
    out.print(Text(f"nginx version: {version}; OpenSSL: {openssl}; "
                   + plural(sum(c.get('servers', 0) for c in report.data.get('configs', [])),
                            "server block"), style="dim"))

    split: dict[str, list[str]] = {}  # each source split once: linear in findings, not quadratic

    def around(f) -> list[Text]:
        """The config line of the finding, with one line of context either side."""
        loc = f.location
        text = sources.get(loc.path or "")
        if text is None or not loc.line:
            return []
        lines = split.get(loc.path or "")
        if lines is None:
            lines = split[loc.path or ""] = text.splitlines()
        return [Text(f"    {'>' if n == loc.line else ' '} {n:>5} | {lines[n - 1]}",
                     style="bold" if n == loc.line else "dim")
                for n in range(max(1, loc.line - 1), min(len(lines), loc.line + 1) + 1)]

    print_findings(out, report.findings, context=around)
