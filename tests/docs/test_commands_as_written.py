"""Every ``mtls-doctor`` command in a fenced code block of README.md and docs/*.md, run as written.

A block is run as one shell session (bash, commands in order, a ``cd`` carried to the next
command) in a temporary directory, with only two kinds of substitution, both listed per block in
``SESSIONS``: a free port for a fixed one (8443, 9471: other tests and helpers share this
machine) and a temporary directory for a fixed absolute path (``/tmp/lab``, ``/etc/mtls-doctor``).
Lines of a block that are not ``mtls-doctor`` commands (``sudo apt-get``, ``kubectl``, a
``curl`` to a remote host) are not run; the input they would produce is written by the block's
setup, from lab material. For each command the test checks:

- the exit code is 0 or 1 (the README's codes: a documented example never ends in a usage
  error, 2) and no traceback is printed;
- in a ``console`` block, every output line the docs show (``...`` skips) occurs in the real
  output (only the OpenSSL version string and the port are normalized);
- a ``--format json`` output validates against its command's schema and the vocabulary
  (``tests/report/contract.py: check_document``), a ``--format sarif`` file against SARIF 2.1.0
  and GitHub's requirements (``check_sarif``).

A new command in the docs fails ``test_every_documented_command_is_run`` until a session runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.report.contract import check_document, check_sarif

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"console", "sh", "shell", "bash", "yaml", ""}
#: ``mtls-doctor`` as a program: at the start of a line, after a space or a pipe, or as bin/mtls-doctor
PROGRAM = re.compile(r"(?:^|[\s|;&(]|bin/)mtls-doctor(?=\s|$)")
TIMEOUT = 90


@dataclass
class Block:
    doc: str  # README.md, docs/json.md
    line: int  # of the opening fence
    lang: str
    lines: list[str]

    def commands(self) -> list[tuple[str, list[str]]]:
        """(command, output lines shown after it): ``$ `` lines in a console block, else every
        line that runs mtls-doctor (``- run: ...`` in a workflow's YAML is unwrapped)."""
        out: list[tuple[str, list[str]]] = []
        if self.lang == "console":
            for text in self.lines:
                if text.startswith("$ "):
                    out.append((text[2:], []))
                elif out:
                    out[-1][1].append(text)
            return [(c, shown) for c, shown in out if PROGRAM.search(c)]
        for text in self.lines:
            cmd = text.split("- run:", 1)[1].strip() if self.lang == "yaml" and "- run:" in text else text
            if self.lang == "yaml" and "- run:" not in text:
                continue
            if PROGRAM.search(cmd) and not cmd.lstrip().startswith("#"):
                out.append((cmd.strip(), []))
        return out


def blocks() -> list[Block]:
    found = []
    for path in DOC_FILES:
        current: Block | None = None
        for no, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            fence = re.match(r"^\s*```(\S*)", text)
            if fence and current is None:
                current = Block(str(path.relative_to(ROOT)), no, fence.group(1), [])
            elif fence:
                if current.lang in SHELL_LANGS and current.commands():
                    found.append(current)
                current = None
            elif current is not None:
                current.lines.append(text)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Shell:
    """A bash session: commands run one by one in ``cwd``; a ``cd`` is carried on."""

    cwd: Path
    env: dict
    subs: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def as_run(self, command: str) -> str:
        for old, new in self.subs.items():
            command = command.replace(old, new)
        return command

    def run(self, command: str, shown: list[str] = (), where: str = "") -> subprocess.CompletedProcess:
        real = self.as_run(command)
        script = f"trap 'pwd > {self.cwd / '.pwd-after'}' EXIT\n{real}\n"
        r = subprocess.run(["bash", "-c", script], cwd=self.here(), env=self.env, capture_output=True,
                           text=True, timeout=TIMEOUT)
        self.ran.append(command)
        what = f"{where}: `{command}` (run as `{real}`)"
        both = r.stdout + r.stderr
        assert "Traceback" not in both, f"{what} printed a traceback:\n{both[-3000:]}"
        assert r.returncode in (0, 1), f"{what} exited {r.returncode}:\n{r.stderr[-2000:] or r.stdout[-2000:]}"
        assert r.stderr.count("\n") <= 20, f"{what}: a wall of stderr:\n{r.stderr[-2000:]}"
        self.check_shown(what, r.stdout + r.stderr, shown)
        self.check_formats(what, real, r.stdout)
        return r

    def check_shown(self, what: str, output: str, shown: list[str]) -> None:
        def norm(s: str) -> str:
            s = re.sub(r"\(OpenSSL [^)]*\)", "(OpenSSL)", s)
            for old, new in self.subs.items():
                s = s.replace(new, old)
            return " ".join(s.split())

        real = [norm(x) for x in output.splitlines()]
        for line in shown:
            want = norm(line)
            if not want or want == "...":
                continue
            pattern = ".*".join(re.escape(part.strip()) for part in want.split("..."))
            ok = any(re.search(pattern, r) for r in real)
            assert ok, f"{what}: the docs show {line!r}, not in the output:\n{output[-3000:]}"

    def check_formats(self, what: str, real: str, stdout: str) -> None:
        redirect = re.search(r"(?<![\d&>])>\s*([^\s&|;]+)", real)  # stdout to a file (not 2>)
        if "--format json" in real:
            text = (self.here() / redirect.group(1)).read_text() if redirect else stdout
            for doc in _json_documents(text):
                try:
                    check_document(doc)
                except AssertionError as exc:
                    raise AssertionError(f"{what}: {exc}") from None
        if "--format sarif" in real:
            text = (self.here() / redirect.group(1)).read_text() if redirect else stdout
            try:
                check_sarif(json.loads(text))
            except AssertionError as exc:
                raise AssertionError(f"{what}: {exc}") from None

    def here(self) -> Path:
        pwd = self.cwd / ".pwd-after"
        return Path(pwd.read_text().strip()) if pwd.exists() else self.cwd


def _json_documents(text: str) -> list[dict]:
    text = text.strip()
    assert text, "no JSON output"
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]  # JSON lines


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("docs-pki") / "pki"
    r = subprocess.run([str(BIN_DIR / "mtls-doctor"), "lab", "pki", str(d)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return d


@pytest.fixture()
def shell(tmp_path, nginx_bin):
    run_dir = tmp_path / "run"
    env = dict(os.environ, PATH=f"{BIN_DIR}:{Path(nginx_bin).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
               MTLS_DOCTOR_RUN_DIR=str(run_dir), COLUMNS="100", NO_COLOR="1")
    work = tmp_path / "work"
    work.mkdir()
    sh = Shell(work, env)
    yield sh
    subprocess.run([str(BIN_DIR / "mtls-doctor"), "lab", "down"], env=env, capture_output=True, timeout=60)


def _block(doc: str, first_command: str) -> Block:
    for b in blocks():
        if b.doc == doc and first_command in b.commands()[0][0]:
            return b
    raise AssertionError(f"{doc}: no code block starting with a command like {first_command!r}")


def _run_block(sh: Shell, b: Block, skip: tuple[str, ...] = ()) -> None:
    for command, shown in b.commands():
        if any(s in command for s in skip):
            continue
        sh.run(command, shown, f"{b.doc}:{b.line}")


#: (doc, a text of the block's first command): the sessions below; every block is one of them
SESSIONS = {
    ("README.md", "mtls-doctor lab up depth-default"),
    ("README.md", "mtls-doctor exporter --config"),
    ("docs/json.md", "mtls-doctor lint deploy/nginx/nginx.conf"),
    ("docs/kubernetes.md", "mtls-doctor lint cluster.yaml"),
}


def test_every_documented_command_is_run():
    found = blocks()
    assert len(found) >= len(SESSIONS)
    for b in found:
        first = b.commands()[0][0]
        assert any(b.doc == doc and key in first for doc, key in SESSIONS), (
            f"{b.doc}:{b.line}: a code block with mtls-doctor commands no session of "
            f"{Path(__file__).name} runs (first: {first!r}): add it to SESSIONS"
        )


@pytest.mark.nginx
def test_readme_examples(shell):
    """The README's lab session: lab up, verify, probe, diagnose (text and JSON), lab down,
    lab run, and lint of `nginx -T` (this machine's nginx configuration) as SARIF."""
    b = _block("README.md", "mtls-doctor lab up depth-default")
    port = _free_port()
    lab = shell.cwd.parent / "lab"
    shell.subs.update({"/tmp/lab": str(lab), "8443": str(port)})
    commands = [c for c, _ in b.commands()]
    assert any(c.startswith("mtls-doctor lab up") for c in commands)
    assert commands.index(next(c for c in commands if c.startswith("mtls-doctor lab down"))) > max(
        i for i, c in enumerate(commands) if "localhost:8443" in c), "lab down after the last probe"
    _run_block(shell, b)
    assert (lab / "ca" / "root.pem").is_file()


@pytest.mark.nginx
def test_readme_exporter(shell, pki):
    """The exporter's modules file as the README writes it (with the lab's client and config in
    place of /etc/mtls and /etc/nginx), `--check`, then the exporter itself on a free port and
    its /metrics. The README's curl to api.example.com is not run (a remote host)."""
    b = _block("README.md", "mtls-doctor exporter --config")
    text = "\n".join(b.lines)
    heredoc = re.search(r"<<'EOF'\n(.*?)\nEOF", text, re.S)
    assert heredoc, "the README writes the modules file with a here-document"
    etc = shell.cwd.parent / "etc" / "mtls-doctor"
    etc.mkdir(parents=True)
    (etc / "modules.yaml").write_text(
        heredoc.group(1).replace("/etc/mtls/partner-a.pem", str(pki / "clients" / "good-chain.pem"))
        .replace("/etc/mtls/partner-a.key", str(pki / "clients" / "good.key"))
        .replace("/etc/nginx/nginx.conf", str(_lab_config(shell.cwd.parent, pki))))
    shell.subs["/etc/mtls-doctor/"] = f"{etc}/"
    commands = [c for c, _ in b.commands()]
    assert any(c.endswith("--check") for c in commands)
    for command in commands:
        if command.endswith("--check"):
            shell.run(command, where=f"{b.doc}:{b.line}")
        elif re.search(r"&(\s|$)", command):
            _run_exporter(shell, command.split("&")[0].strip())
        else:
            raise AssertionError(f"README exporter block: no way to run {command!r}")


def _lab_config(base: Path, pki: Path) -> Path:
    conf = base / "nginx-conf" / "nginx.conf"
    conf.parent.mkdir()
    conf.write_text(f"""events {{}}
http {{
    server {{
        listen 127.0.0.1:8443 ssl;
        server_name localhost;
        ssl_certificate {pki}/server/server.pem;
        ssl_certificate_key {pki}/server/server.key;
        ssl_client_certificate {pki}/ca/root.pem;
        ssl_verify_client on;
    }}
}}
""")
    return conf


def _run_exporter(sh: Shell, command: str) -> None:
    port = _free_port()
    real = sh.as_run(command) + f" --listen 127.0.0.1:{port}"
    proc = subprocess.Popen(["bash", "-c", f"exec {real}"], cwd=sh.cwd, env=sh.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert proc.poll() is None, f"`{real}` stopped: {proc.communicate(timeout=10)}"
        assert "mtls_" in body, body[:2000]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "Traceback" not in out + err, err[-2000:]


def test_ci_sarif_step(shell, pki):
    """docs/json.md's GitHub Actions step, from a checkout holding the venv under .venv and a
    configuration with its certificates in subfolders."""
    b = _block("docs/json.md", "mtls-doctor lint deploy/nginx/nginx.conf")
    repo = shell.cwd
    (repo / ".venv").symlink_to(BIN_DIR.parent)
    conf = repo / "deploy" / "nginx" / "nginx.conf"
    certs = repo / "deploy" / "nginx" / "certs"
    certs.mkdir(parents=True)
    for src, dst in (("server/server.pem", "server.pem"), ("server/server.key", "server.key"),
                     ("ca/inter.pem", "client-ca.pem")):
        shutil.copyfile(pki / src, certs / dst)
    # a CA file holding only the intermediate (F3.1): a finding placed in the repository
    conf.write_text("""events {}
http {
    server {
        listen 443 ssl;
        server_name api.example.com;
        ssl_certificate certs/server.pem;
        ssl_certificate_key certs/server.key;
        ssl_client_certificate certs/client-ca.pem;
        ssl_verify_client on;
    }
}
""")
    _run_block(shell, b)
    sarif = json.loads((repo / "mtls.sarif").read_text())
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in sarif["runs"][0]["results"] for loc in res["locations"]}
    assert uris and all(not u.startswith(("/", "file:")) for u in uris), uris
    assert "deploy/nginx/nginx.conf" in uris


def test_kubernetes_examples(shell, pki):
    """docs/kubernetes.md's commands on a cluster.yaml written here in place of `kubectl get`'s
    (an Ingress asking for client certificates on a host, kubernetes/ingress-nginx#5489, as
    tests/k8s/material.py writes it) and the lab's client certificate as client.pem."""
    from tests.k8s.material import manifest
    from tests.rules.test_rules_k8s import AUTH, CA_SECRET, ingress

    b = _block("docs/kubernetes.md", "mtls-doctor lint cluster.yaml")
    (shell.cwd / "cluster.yaml").write_text(manifest(ingress("api", "api.example.com", AUTH)
                                                     + ingress("public", "api.example.com", path="/public")
                                                     + CA_SECRET))
    shutil.copyfile(pki / "clients" / "good-chain.pem", shell.cwd / "client.pem")
    _run_block(shell, b)
    assert len(shell.ran) == len(b.commands()) >= 4


#: docs/cases.md is generated by tests/diagnose/corpus.py (its "Ran:" lines are records of a run)
INLINE_EXEMPT = {"docs/cases.md"}
SPAN = re.compile(r"`((?:\.venv/bin/)?mtls-doctor [^`]+)`")


def test_inline_commands_name_real_subcommands_and_options():
    """A command in an inline code span (the README's tables, the prose of docs/*.md) names
    placeholders (`https://host/`, `FILE...`) and cannot run, but its subcommand and every
    `--option` it spells must exist: docs that drift from the CLI fail here."""
    import click

    from mtls_doctor.cli import cli

    checked = 0
    problems = []
    with click.Context(cli) as ctx:
        top = {o for p in cli.params for o in p.opts + p.secondary_opts} | {"--help", "-h"}
        for path in DOC_FILES:
            doc = str(path.relative_to(ROOT))
            if doc in INLINE_EXEMPT:
                continue
            for m in SPAN.finditer(path.read_text(encoding="utf-8")):
                words = m.group(1).split()[1:]
                if words and words[0].startswith("-"):
                    bad = [w for w in words if w.startswith("--") and w not in top]
                    problems += [f"{doc}: `{m.group(1)}`: {w}" for w in bad]
                    checked += 1
                    continue
                cmd = cli.get_command(ctx, words[0]) if words else None
                if cmd is None:
                    problems.append(f"{doc}: `{m.group(1)}`: no command {words[:1]}")
                    continue
                rest = words[1:]
                if isinstance(cmd, click.Group):
                    if not rest or rest[0] not in cmd.list_commands(ctx):
                        continue  # `lab` alone, or `lab ...` in prose
                    cmd, rest = cmd.get_command(ctx, rest[0]), rest[1:]
                opts = {o for p in cmd.params for o in p.opts + p.secondary_opts} | {"--help", "-h"}
                for w in rest:
                    name = w.lstrip("[").split("=")[0].rstrip("],.;:)")
                    if name.startswith("--") and name not in opts:
                        problems.append(f"{doc}: `{m.group(1)}`: {name}")
                checked += 1
    assert checked >= 30, checked
    assert not problems, problems
