""".pre-commit-hooks.yaml: the manifest pre-commit reads from this repository (no network, no
pre-commit install): its keys and their types are the ones pre-commit documents for a hook
(https://pre-commit.com/#creating-new-hooks, "Creating new hooks"), its ``files`` pattern picks
nginx configuration files and nothing else, and its ``entry`` run as pre-commit runs it (the
entry, the hook's args, then the matching file names) judges a repository's configuration."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
BIN_DIR = Path(sys.executable).parent

#: the keys pre-commit documents for a hook in .pre-commit-hooks.yaml: name -> type
REQUIRED = {"id": str, "name": str, "entry": str, "language": str}
OPTIONAL = {"files": str, "exclude": str, "types": list, "types_or": list, "exclude_types": list,
            "always_run": bool, "fail_fast": bool, "verbose": bool, "pass_filenames": bool,
            "require_serial": bool, "description": str, "language_version": str,
            "minimum_pre_commit_version": str, "args": list, "stages": list}
#: the languages pre-commit documents ("Supported languages")
LANGUAGES = {"conda", "coursier", "dart", "docker", "docker_image", "dotnet", "fail", "golang", "haskell",
             "julia", "lua", "node", "perl", "python", "r", "ruby", "rust", "swift", "pygrep", "script",
             "system", "unsupported", "unsupported_script"}

NGINX_FILES = ["nginx.conf", "deploy/nginx/nginx.conf", "etc/nginx/conf.d/api.conf", "nginx/snippets/ssl.conf",
               "sites-available/default", "etc/nginx/sites-enabled/api.example.com",
               "templates/default.conf.template", "etc/nginx/streams.d/mqtt.conf", "deploy/nginx/mtls.conf"]
OTHER_FILES = ["README.md", "supervisord.conf", "etc/fail2ban/jail.conf", "deploy/app.py",
               "docker-compose.yml", "conf.d", "sites-available/", "nginx.conf.bak"]


def _hooks() -> list[dict]:
    return YAML(typ="safe").load(MANIFEST.read_text())


def _hook() -> dict:
    (hook,) = [h for h in _hooks() if h["id"] == "mtls-doctor-lint"]
    return hook


def test_manifest_keys_are_the_documented_ones():
    hooks = _hooks()
    assert isinstance(hooks, list) and hooks, "a manifest is a list of hooks"
    for hook in hooks:
        missing = set(REQUIRED) - set(hook)
        assert not missing, f"{hook.get('id')}: required keys missing: {sorted(missing)}"
        unknown = set(hook) - set(REQUIRED) - set(OPTIONAL)
        assert not unknown, f"{hook['id']}: keys pre-commit does not document: {sorted(unknown)}"
        for key, value in hook.items():
            want = {**REQUIRED, **OPTIONAL}[key]
            assert isinstance(value, want), f"{hook['id']}.{key}: {type(value).__name__}, not {want.__name__}"
            if want is list:
                assert all(isinstance(v, str) for v in value), f"{hook['id']}.{key}: a list of strings"
        assert hook["language"] in LANGUAGES
        for key in ("files", "exclude"):
            if key in hook:
                re.compile(hook[key])  # pre-commit matches with Python's re.search
    assert len({h["id"] for h in hooks}) == len(hooks)


def test_entry_is_the_installed_console_script():
    hook = _hook()
    program = hook["entry"].split()[0]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts, f"entry {program!r} is not a [project.scripts] entry point"
    assert hook["entry"].split()[1:] == ["lint"]


@pytest.mark.parametrize("path", NGINX_FILES)
def test_files_pattern_picks_nginx_configuration(path):
    assert re.search(_hook()["files"], path), path


@pytest.mark.parametrize("path", OTHER_FILES)
def test_files_pattern_leaves_other_files(path):
    assert not re.search(_hook()["files"], path), path


def _as_pre_commit_runs(repo: Path, args: list[str]) -> subprocess.CompletedProcess:
    """entry + args + the tracked files matching ``files`` (pass_filenames), from the repo root."""
    hook = _hook()
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()
                   and re.search(hook["files"], str(p.relative_to(repo))))
    assert files
    entry = hook["entry"].split()
    argv = [str(BIN_DIR / entry[0]), *entry[1:], *hook.get("args", []), *args, *files]
    return subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=60)


def test_entry_judges_a_repository(tmp_path):
    """A repository with nginx.conf including conf.d/*.conf (both passed, as pre-commit does: each
    finding once), certificates not in the repository (args: --no-files, as the manifest's
    comment suggests). `ssl_verify_client optional` unchecked (MTLS201) fails; fixed, it passes."""
    conf = tmp_path / "deploy" / "nginx"
    (conf / "conf.d").mkdir(parents=True)
    (tmp_path / "README.md").write_text("not nginx\n")
    (conf / "nginx.conf").write_text("events {}\nhttp {\n    include conf.d/*.conf;\n}\n")
    api = conf / "conf.d" / "api.conf"
    api.write_text("server {\n    listen 443 ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
                   "    ssl_certificate /etc/ssl/api.pem;\n    ssl_certificate_key /etc/ssl/api.key;\n"
                   "    ssl_client_certificate /etc/ssl/client-ca.pem;\n    ssl_verify_client optional;\n"
                   "    location / { proxy_pass http://127.0.0.1:9000; }\n}\n")
    bad = _as_pre_commit_runs(tmp_path, ["--no-files", "--nginx-version", "1.22.1"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stdout.count("MTLS201") == 1, bad.stdout
    assert "Traceback" not in bad.stderr
    api.write_text(api.read_text().replace("optional;", "on;"))
    good = _as_pre_commit_runs(tmp_path, ["--no-files", "--nginx-version", "1.22.1"])
    assert good.returncode == 0, good.stdout + good.stderr
