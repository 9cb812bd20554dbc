"""nginx configuration carried in YAML: Ansible variables, Helm values, Kubernetes ConfigMaps
(``nginx.conf: |``), docker-compose ``configs:`` with ``content: |``.

Invariants of this module (no I/O: text in, data out):
- the YAML is read with the Kubernetes reader's composer (``k8s.manifests``: ruamel.yaml
  nodes that keep the line of every key; documents split by ``split_chunks``), never a second
  YAML reader;
- a string value is nginx configuration when it reads like it (``looks_like_nginx``): lines
  ending in ``;``, ``{`` or ``}`` and at least one directive nginx's mTLS setups use;
- a literal block scalar (``key: |``) keeps its lines: its first line is the line after the
  key, so the config is parsed as the YAML file's own path with that many blank lines in
  front, and every finding's ``file:line`` points into the YAML; any other string (folded,
  quoted) is placed at its key's line;
- Jinja/Go placeholders in the values (Ansible, Helm) are handled by ``nginx.templates``; a
  YAML file that is itself a template (a Helm chart's ``templates/configmap.yaml``) is composed
  from a neutralized copy (same lines) and its nginx text taken as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mtls_doctor.model import InputError

YAML_SUFFIXES = (".yaml", ".yml")

_DIRECTIVE_LINE = re.compile(r"^\s*(?:[a-z_][a-z0-9_]*\b[^\n]*[;{]|\})\s*(?:#.*)?$", re.M)
_NGINX_WORDS = re.compile(
    r"^\s*(?:server|location|http|stream|upstream|events|listen|server_name|ssl_[a-z_]+|proxy_pass|"
    r"proxy_set_header|include|return|root|if|map|error_log|access_log)\b", re.M)
_BLOCK_INDICATOR = re.compile(r"(?:^|[:\-]\s*)(?:!\S+\s+)?\|[-+0-9]*\s*(?:#.*)?$")


@dataclass(frozen=True)
class YamlConfig:
    """One string value of a YAML file that is nginx configuration."""

    path: str
    key: str  # the key path, e.g. "data.nginx.conf" or "nginx_vhosts[0].extra"
    line: int  # the YAML line of the config's first line
    text: str  # the configuration, padded with blank lines so that its lines are the YAML's
    exact: bool  # lines map one to one (a literal block scalar)


def looks_like_nginx(text: str) -> bool:
    """Whether a string reads like nginx configuration (not a shell script, not YAML)."""
    if ";" not in text and "{" not in text:
        return False
    lines = [l for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    if not lines:
        return False
    directive_lines = len(_DIRECTIVE_LINE.findall(text))
    return directive_lines >= max(1, len(lines) // 2) and bool(_NGINX_WORDS.search(text))


def nginx_in_yaml(text: str, path: str) -> list[YamlConfig]:
    """Every nginx configuration held in a string of ``text`` (a YAML file), in file order.
    InputError (one line) when ``text`` is not YAML."""
    from mtls_doctor.k8s.manifests import Node, _compose, split_chunks

    from mtls_doctor.nginx.templates import neutralize

    lines = text.splitlines()
    out: list[YamlConfig] = []
    neutral = None
    for chunk in split_chunks(text):
        try:
            root = _compose(chunk.text, path, chunk.first_line)
        except InputError:
            raise
        except Exception as exc:  # ruamel's errors: one line, with where
            # a Helm/Jinja template of YAML (`name: {{ include "x" . }}`) is not YAML until it
            # is rendered: compose it with its placeholders neutralized (same lines)
            neutral = neutralize(chunk.text, path)
            try:
                root = _compose(neutral.text, path, chunk.first_line) if neutral.placeholders else None
            except Exception:
                root = None
            if root is None:
                mark = getattr(exc, "problem_mark", None)
                where = chunk.first_line + (mark.line if mark is not None else 0)
                raise InputError(f"{path}:{where}: not YAML ({getattr(exc, 'problem', None) or type(exc).__name__})") from None
        stack: list[tuple[object, str]] = [(root, "")]
        while stack:
            node, key = stack.pop()
            if not isinstance(node, Node):
                continue
            entries = list(node.value.items()) if isinstance(node.value, dict) else list(enumerate(node.value))
            for k, value in reversed(entries):
                name = f"{key}[{k}]" if isinstance(k, int) else (f"{key}.{k}" if key else str(k))
                if isinstance(value, Node):
                    stack.append((value, name))
                elif isinstance(value, str) and "\n" in value and looks_like_nginx(value):
                    at = node.line_of(k)
                    raw = lines[at - 1] if 0 < at <= len(lines) else ""
                    exact = bool(_BLOCK_INDICATOR.search(raw.split(" #")[0].rstrip() if " #" in raw else raw.rstrip()))
                    first = at + 1 if exact else at
                    body = value if exact else " ".join(value.splitlines())
                    if neutral is not None and neutral.placeholders:  # the text as written
                        body = _as_written(lines, first, body) if exact else neutral.restore(body)
                    out.append(YamlConfig(path, name, first, "\n" * (first - 1) + body, exact))
    out.sort(key=lambda c: c.line)
    return out


def _as_written(lines: list[str], first: int, body: str) -> str:
    """A literal block's text from the file's own lines (first is 1-based), dedented by the
    block's indentation: the composed value was read from a neutralized copy."""
    count = len(body.splitlines())
    raw = lines[first - 1:first - 1 + count]
    indent = min((len(l) - len(l.lstrip(" ")) for l in raw if l.strip()), default=0)
    return "".join(l[indent:] + "\n" for l in raw)
