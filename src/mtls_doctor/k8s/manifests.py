"""Read Kubernetes manifests into resources that keep their ``file:line``.

Invariants of this module:
- the core (``parse_text``) does no I/O: text in, a ``ManifestSet`` out. ``read_paths`` is the
  one entry point that touches files (through the bounded reader ``mtls_doctor.inputs``);
- YAML is read with ruamel.yaml (``compose``: nodes with start marks, so every mapping key keeps
  its line). ruamel without its C extension reads about 150 KB/s, so the stream is first split as
  text into documents (``---``) and the items of ``kind: List`` documents (``kubectl get -o
  yaml``), each chunk's ``kind`` is read with a pattern, and only the kinds the renderers use
  are composed. Secrets and ConfigMaps are composed only when a resource of the input names
  them (a cluster dump holds thousands, some of them megabytes of Helm release data);
- bounded: at most ``MAX_INPUT_BYTES`` are read and at most ``MAX_PARSED_BYTES`` of chunks are
  composed; beyond either, one ``InputError`` line. YAML aliases are expanded at most
  ``MAX_NODES`` nodes (a "billion laughs" document is one line, not a hang);
- a chunk that is not YAML, not a mapping, or has no ``kind``/``apiVersion`` is a
  ``ManifestProblem`` (a finding later), never a traceback. Input with no Kubernetes resource at
  all is an ``InputError``;
- Secret values are kept as bytes in memory for the renderers and never put into a message.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from mtls_doctor.model import InputError, Location

MAX_INPUT_BYTES = 256 * 1024 * 1024
MAX_PARSED_BYTES = 8 * 1024 * 1024  # ruamel (pure Python) composes ~150 KB/s: about a minute
MAX_NODES = 2_000_000

#: kinds a renderer or a rule reads (Secrets and ConfigMaps only when referenced)
WANTED_KINDS = frozenset({
    "Ingress", "IngressClass", "Policy", "VirtualServer", "VirtualServerRoute", "TransportServer",
    "Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute", "ClientTrafficPolicy", "Gateway.networking.istio.io",
    "TLSOption", "IngressRoute",
    "Service", "Deployment", "DaemonSet",  # the controller's Service (a TLS-terminating balancer) and args
})
MATERIAL_KINDS = frozenset({"Secret", "ConfigMap"})

_DOC_START = re.compile(r"^(?:---|\.\.\.)(?:[ \t].*)?$")
_KIND = re.compile(r"^(?P<indent>[ ]*)kind:[ \t]*['\"]?(?P<kind>[A-Za-z0-9.]+)['\"]?[ \t]*(?:#.*)?$", re.M)
_ITEMS = re.compile(r"^items:[ \t]*(?:#.*)?$")
_NAME = re.compile(r"^[ ]+name:[ \t]*['\"]?(?P<name>[A-Za-z0-9._-]+)['\"]?[ \t]*$", re.M)
_HELM_HEAD = re.compile(r"^(MANIFEST|NOTES|HOOKS):\s*$")
_YAMLISH = re.compile(r"^[ ]*(?:apiVersion|kind)[ \t]*:", re.M)
#: keys under ``controller:`` that mark values of the ingress-nginx Helm chart
_CHART_VALUES = re.compile(r"^[ ]{2,4}(?:allowSnippetAnnotations|extraArgs|admissionWebhooks|ingressClassResource"
                           r"|enableAnnotationValidations|config|service|kind|image):", re.M)
#: a ConfigMap that is a controller's configuration is composed even when nothing names it
#: (ingress-nginx: ``k8s.ingress_nginx.CONFIG_KEYS`` or the chart's labels)
_CONTROLLER_CONFIG = re.compile(
    r"^[ ]+['\"]?(?:allow-snippet-annotations|annotations-risk-level|allow-cross-namespace-resources)['\"]?[ \t]*:"
    r"|^[ ]+app\.kubernetes\.io/name:[ \t]*['\"]?ingress-nginx['\"]?[ \t]*$", re.M)


@dataclass(frozen=True)
class Node:
    """A YAML mapping or sequence with the line of each entry (1-based)."""

    value: Any  # dict[str, Any] | list[Any]
    line: int
    lines: Mapping[Any, int] = field(default_factory=dict)  # key or index -> line

    def get(self, key: Any, default: Any = None) -> Any:
        if isinstance(self.value, dict):
            return self.value.get(key, default)
        if isinstance(self.value, list) and isinstance(key, int) and 0 <= key < len(self.value):
            return self.value[key]
        return default

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


def at(node: Any, *keys: Any) -> Any:
    """The value at ``keys`` below ``node`` (a Node or plain value), else None."""
    for key in keys:
        if not isinstance(node, Node):
            return None
        node = node.get(key)
    return node


def items(node: object) -> list:
    """The items of a YAML sequence (a Node holding a list), else [] (absent, null, a scalar or
    a mapping where a list belongs)."""
    return list(node.value) if isinstance(node, Node) and isinstance(node.value, list) else []


def plain(node: Any) -> Any:
    """A Node tree as plain dicts and lists (for values such as a list of refs)."""
    if isinstance(node, Node):
        if isinstance(node.value, dict):
            return {k: plain(v) for k, v in node.value.items()}
        return [plain(v) for v in node.value]
    return node


@dataclass(frozen=True)
class Resource:
    """One Kubernetes object from the input."""

    kind: str
    api_version: str
    name: str
    namespace: str  # "" when the manifest has none (cluster-scoped, or "default" at apply)
    body: Node = field(repr=False)  # a Secret's body holds key material: never in a repr
    path: str
    line: int  # the line of the object's first key

    @property
    def key(self) -> str:
        return f"{self.namespace or 'default'}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.key}"

    @property
    def annotations(self) -> Mapping[str, str]:
        ann = at(self.body, "metadata", "annotations")
        if not isinstance(ann, Node) or not isinstance(ann.value, dict):
            return {}
        return {str(k): "" if v is None else str(v) for k, v in ann.value.items() if not isinstance(v, Node)}

    @property
    def creation(self) -> str:
        """``metadata.creationTimestamp`` as written (RFC 3339 sorts as text), else ""."""
        value = at(self.body, "metadata", "creationTimestamp")
        return str(value) if value is not None and not isinstance(value, Node) else ""

    def where(self, *keys: Any) -> Location:
        """The manifest line of the field at ``keys`` (the nearest existing parent if absent)."""
        node: Any = self.body
        line = self.line
        for key in keys:
            if not isinstance(node, Node):
                break
            if key not in (node.lines if isinstance(node.value, dict) else range(len(node.value))):
                break
            line = node.line_of(key)
            node = node.get(key)
        return Location(path=self.path, line=line)

    def annotation_location(self, name: str) -> Location:
        return self.where("metadata", "annotations", name)


@dataclass(frozen=True)
class ManifestProblem:
    """A chunk of the input that is not a usable Kubernetes object."""

    path: str
    line: int
    message: str


@dataclass(frozen=True)
class ManifestSet:
    resources: tuple[Resource, ...]
    problems: tuple[ManifestProblem, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    skipped: int = 0  # objects of kinds no renderer reads

    def of_kind(self, *kinds: str) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.kind in kinds)

    def find(self, kind: str, namespace: str, name: str) -> Resource | None:
        """The object of that kind and name in ``namespace``; one whose manifest names no
        namespace matches any (it goes wherever ``kubectl apply -n`` puts it)."""
        ns = namespace or "default"
        loose = None
        for r in self.resources:
            if r.kind == kind and r.name == name:
                if (r.namespace or "default") == ns:
                    return r
                if not r.namespace and loose is None:
                    loose = r
        return loose


# --------------------------------------------------------------------------- detection


def looks_like_kubernetes(text: str) -> bool:
    """Whether ``text`` looks like YAML Kubernetes objects (a top-level ``apiVersion``/``kind``
    key) rather than an nginx configuration (where ``kind:`` is not a directive)."""
    head = text[: 1 << 20]
    if _CHART_VALUES.search(head) and re.search(r"^controller:[ \t]*(?:#.*)?$", head, re.M):
        return True  # values of the ingress-nginx Helm chart
    if head.lstrip("\ufeff \t\r\n")[:1] in ("{", "[") and re.search(r'"kind"\s*:\s*"', head) and re.search(
            r'"apiVersion"\s*:\s*"', head):
        return True  # `kubectl get -o json`
    return bool(_YAMLISH.search(head)) and bool(re.search(r"^[ ]*kind:[ \t]*\S", head, re.M)) and bool(
        re.search(r"^[ ]*apiVersion:[ \t]*\S", head, re.M))


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


# --------------------------------------------------------------------------- text splitting


@dataclass(frozen=True)
class _Chunk:
    text: str
    first_line: int  # 1-based line of the chunk's first line in the file
    kind: str | None


def _documents(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    start, current = 0, []
    for i, line in enumerate(lines):
        if _DOC_START.match(line.rstrip("\r\n")):
            if current:
                yield start, current
            start, current = i + 1, []
            continue
        current.append(line)
    if current:
        yield start, current


def _top_kind(text: str) -> str | None:
    """The ``kind`` of the chunk's outermost mapping (the least-indented ``kind:`` line)."""
    best: tuple[int, str] | None = None
    for m in _KIND.finditer(text):
        indent = len(m.group("indent"))
        if best is None or indent < best[0]:
            best = (indent, m.group("kind"))
            if indent == 0:
                break
    return best[1] if best else None


def _list_items(start: int, lines: list[str]) -> list[_Chunk] | None:
    """The items of a ``kind: List`` document split at their ``- `` lines, or None if the
    document is not such a List in the layout kubectl writes."""
    items_at = next((i for i, l in enumerate(lines) if _ITEMS.match(l.rstrip("\r\n"))), None)
    if items_at is None:
        return None
    if not re.search(r"^kind:[ \t]*['\"]?[A-Za-z]*List['\"]?[ \t]*$", "".join(lines[:items_at]) + "".join(
            l for l in lines[items_at:] if l[:1] not in (" ", "-", "\t", "#", "\n", "\r")), re.M):
        return None
    chunks: list[_Chunk] = []
    cur: list[str] = []
    cur_start = 0
    indent: str | None = None
    for i in range(items_at + 1, len(lines)):
        line = lines[i]
        stripped = line.rstrip("\r\n")
        if indent is None:
            m = re.match(r"^([ ]*)- ", line)
            if m:
                indent = m.group(1)
            elif stripped.strip() and not stripped.lstrip().startswith("#"):
                if stripped.strip() == "[]":
                    return []
                return None
        if indent is not None and line.startswith(indent + "- "):
            if cur:
                chunks.append(_Chunk("".join(cur), cur_start, None))
            cur, cur_start = [indent + "  " + line[len(indent) + 2:]], start + i + 1
            continue
        if indent is not None and stripped and not line.startswith(indent + " ") and not stripped.startswith("#"):
            break  # the next top-level key (apiVersion, metadata of the List)
        if cur:
            cur.append(line)
    if cur:
        chunks.append(_Chunk("".join(cur), cur_start, None))
    return [_Chunk(c.text, c.first_line, _top_kind(c.text)) for c in chunks]


def split_chunks(text: str) -> list[_Chunk]:
    """Every object-sized chunk of the stream, with its first line and its kind (by pattern)."""
    lines = text.splitlines(keepends=True)
    # `helm install --dry-run` output: a status header, then HOOKS: and MANIFEST: sections of
    # YAML, then NOTES: text. Blank the non-YAML parts (blank lines keep the line numbers).
    heads = [i for i, line in enumerate(lines[:20000]) if _HELM_HEAD.match(line)]
    if heads and any(lines[i].startswith(("MANIFEST:", "HOOKS:")) for i in heads):
        first = min(i for i in heads if lines[i].startswith(("MANIFEST:", "HOOKS:")))
        for i in range(first + 1):
            lines[i] = "\n"
        for i in heads:
            if lines[i].startswith("NOTES:"):
                lines = lines[:i]
                break
            lines[i] = "\n"
    out: list[_Chunk] = []
    for start, doc in _documents(lines):
        joined = "".join(doc)
        if not joined.strip() or all(not l.strip() or l.lstrip().startswith("#") for l in doc):
            continue
        items = _list_items(start, doc)
        if items is not None:
            out.extend(items)
        else:
            out.append(_Chunk(joined, start + 1, _top_kind(joined)))
    return out


def _chunk_names(text: str) -> set[str] | None:
    """Every indented ``name:`` value of a chunk (a superset of its metadata.name), or None
    when there is none to go by (flow style): then the chunk is composed."""
    found = {m.group("name") for m in _NAME.finditer(text)}
    return found or None


# --------------------------------------------------------------------------- YAML -> Node


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES


def _convert(node: Any, offset: int, budget: _Budget) -> Any:
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    budget.left -= 1
    if budget.left < 0:
        raise InputError(f"more than {MAX_NODES} YAML nodes (aliases expanded): refusing to expand further")
    line = node.start_mark.line + offset
    if isinstance(node, MappingNode):
        value: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        for k, v in node.value:
            key = _convert(k, offset, budget)
            if isinstance(key, Node):
                key = str(plain(key))
            value[key] = _convert(v, offset, budget)
            lines[key] = k.start_mark.line + offset
        return Node(value, line, lines)
    if isinstance(node, SequenceNode):
        items = [_convert(v, offset, budget) for v in node.value]
        return Node(items, line, {i: v.start_mark.line + offset for i, v in enumerate(node.value)})
    if isinstance(node, ScalarNode):
        return _scalar(node)
    return None


def _scalar(node: Any) -> Any:
    tag = node.tag or ""
    value = node.value
    if node.style in ("'", '"', "|", ">"):
        return value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return value.lower() in ("true", "yes", "on", "y")
    if tag.endswith(":int"):
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    return value  # floats, timestamps: kept as written (the renderers compare text)


def _compose(text: str, path: str, first_line: int) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = True
    node = yaml.compose(text)
    if node is None:
        return None
    return _convert(node, first_line, _Budget())


def _yaml_error(exc: Exception, first_line: int) -> tuple[int, str]:
    # the context mark is where the broken construct starts (a flow sequence left open is
    # only noticed at the end of the stream); the problem mark where the parser gave up
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    line = first_line + (mark.line if mark is not None else 0)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    context = getattr(exc, "context", None)
    return line, f"not YAML: {problem}" + (f" ({context})" if context else "")


def _resource(body: Node, path: str) -> Resource | ManifestProblem:
    if not isinstance(body.value, dict):
        return ManifestProblem(path, body.line, "a YAML document that is not a mapping (not a Kubernetes object)")
    kind, api = body.get("kind"), body.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str):
        return ManifestProblem(path, body.line, "a YAML mapping without apiVersion and kind (not a Kubernetes object)")
    meta = body.get("metadata")
    name = at(meta, "name") if isinstance(meta, Node) else None
    namespace = at(meta, "namespace") if isinstance(meta, Node) else None
    if not isinstance(name, str) or not name:
        return ManifestProblem(path, body.line, f"{kind} without metadata.name")
    return Resource(kind=kind, api_version=api, name=name,
                    namespace=namespace if isinstance(namespace, str) else "",
                    body=body, path=path, line=body.line)


def _compose_chunk(chunk: _Chunk, path: str) -> tuple[list[Resource], list[ManifestProblem]]:
    try:
        body = _compose(chunk.text, path, chunk.first_line)
    except InputError:
        raise
    except Exception as exc:  # ruamel's ScannerError, ParserError, ComposerError, ...
        line, msg = _yaml_error(exc, chunk.first_line)
        return [], [ManifestProblem(path, line, msg)]
    if body is None:
        return [], []
    if not isinstance(body, Node):
        return [], [ManifestProblem(path, chunk.first_line, "a YAML scalar, not a Kubernetes object")]
    kind = body.get("kind") if isinstance(body.value, dict) else None
    if isinstance(kind, str) and kind.endswith("List") and isinstance(body.get("items"), Node):
        # a List needs no metadata.name (`kubectl get -o json` writes `"metadata": {"resourceVersion": ""}`)
        return _items_of(body, path)
    if isinstance(body.value, dict) and kind is None and body.get("apiVersion") is None:
        chart = chart_values(body, path)
        if chart:
            return chart, []
    found = _resource(body, path)
    if isinstance(found, ManifestProblem):
        return [], [found]
    return [found], []


def _synth(value: dict, line: int, lines: Mapping | None = None) -> Node:
    return Node(value, line, dict(lines) if lines else {k: line for k in value})


def chart_values(body: Node, path: str) -> list[Resource]:
    """The objects the ingress-nginx Helm chart (charts/ingress-nginx, v4.15) makes from a values
    file, as far as the rules read them, each field at the line of the value it comes from:
    the controller ConfigMap (``controller.config``, ``allow-snippet-annotations`` from
    ``controller.allowSnippetAnnotations``, default false, ``templates/controller-configmap.yaml``),
    the controller Service's annotations (``controller.service.annotations``) and the
    Deployment's arguments (``controller.extraArgs`` as ``--key=value``). [] when ``body`` is
    not such a values file (no ``controller`` mapping with one of the chart's keys)."""
    ctl = body.get("controller")
    if not isinstance(ctl, Node) or not isinstance(ctl.value, dict) or not any(
            k in ctl.value for k in ("config", "allowSnippetAnnotations", "extraArgs", "service",
                                     "admissionWebhooks", "ingressClassResource", "enableAnnotationValidations")):
        return []
    name, ns = "ingress-nginx-controller", "ingress-nginx"
    labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
    line = body.line_of("controller")

    def meta(extra: dict | None = None) -> Node:
        m = {"name": name, "namespace": ns, "labels": _synth(dict(labels), line)}
        m.update(extra or {})
        return _synth(m, line)

    data: dict[str, Any] = {}
    data_lines: dict[str, int] = {}
    snip = ctl.get("allowSnippetAnnotations")
    data["allow-snippet-annotations"] = "true" if snip is True or str(snip).lower() == "true" else "false"
    data_lines["allow-snippet-annotations"] = ctl.line_of("allowSnippetAnnotations") if snip is not None else line
    cfg = ctl.get("config")
    if isinstance(cfg, Node) and isinstance(cfg.value, dict):
        for k, v in cfg.value.items():
            if not isinstance(v, Node):
                data[str(k)] = "" if v is None else ("true" if v is True else "false" if v is False else str(v))
                data_lines[str(k)] = cfg.line_of(k)
    out = [Resource("ConfigMap", "v1", name, ns, _synth(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(),
         "data": Node(data, ctl.line_of("config") if cfg is not None else line, data_lines)}, line), path, line)]
    ann = at(ctl, "service", "annotations")
    if isinstance(ann, Node) and isinstance(ann.value, dict):
        out.append(Resource("Service", "v1", name, ns, _synth(
            {"apiVersion": "v1", "kind": "Service", "metadata": meta({"annotations": ann}),
             "spec": _synth({"type": "LoadBalancer", "selector": _synth(dict(labels), line)}, line)}, line),
            path, ctl.line_of("service")))
    extra = ctl.get("extraArgs")
    if isinstance(extra, Node) and isinstance(extra.value, dict):
        args = [f"--{k}" if v in (None, "") else f"--{k}={'true' if v is True else 'false' if v is False else v}"
                for k, v in extra.value.items() if not isinstance(v, Node)]
        arg_lines = {i: extra.line_of(k) for i, k in enumerate(k for k, v in extra.value.items() if not isinstance(v, Node))}
        container = _synth({"name": "controller", "args": Node(["/nginx-ingress-controller", *args], extra.line,
                                                                {0: extra.line, **{i + 1: l for i, l in arg_lines.items()}})},
                           extra.line)
        spec = _synth({"template": _synth({"spec": _synth({"containers": Node([container], extra.line, {0: extra.line})},
                                                          extra.line)}, extra.line)}, extra.line)
        out.append(Resource("Deployment", "apps/v1", name, ns, _synth(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(), "spec": spec}, line),
            path, ctl.line_of("extraArgs")))
    return out


def _items_of(lst: Node, path: str) -> tuple[list[Resource], list[ManifestProblem]]:
    res: list[Resource] = []
    probs: list[ManifestProblem] = []
    for item in lst.get("items").value:
        if not isinstance(item, Node):
            continue
        got = _resource(item, path)
        (probs if isinstance(got, ManifestProblem) else res).append(got)  # type: ignore[arg-type]
    return res, probs


def _list_resource_kind(chunk: _Chunk) -> bool:
    return chunk.kind is not None and chunk.kind.endswith("List")


def parse_text(text: str, path: str) -> ManifestSet:
    """Every resource of one file's text (no I/O). Material (Secret, ConfigMap) is composed
    only when named by another resource of the same text; use ``parse_many`` across files."""
    return parse_many({path: text})


def _referenced_names(resources: Iterable[Resource]) -> set[str]:
    """Every string value below the resources: a cheap superset of the Secret/ConfigMap names
    they reference (``ns/name`` values contribute both parts)."""
    out: set[str] = set()
    stack: list[Any] = [r.body for r in resources]
    while stack:
        node = stack.pop()
        if isinstance(node, Node):
            stack.extend(node.value.values() if isinstance(node.value, dict) else node.value)
        elif isinstance(node, str) and len(node) < 300:
            for part in re.split(r"[/,\s]+", node):
                if part:
                    out.add(part)
    return out


def parse_many(texts: Mapping[str, str]) -> ManifestSet:
    """Resources of several files read together (a Secret in one file, its Ingress in another)."""
    resources: list[Resource] = []
    problems: list[ManifestProblem] = []
    material: list[tuple[str, _Chunk]] = []
    skipped = 0
    budget = MAX_PARSED_BYTES

    def spend(chunk: _Chunk, path: str) -> None:
        nonlocal budget
        budget -= len(chunk.text)
        if budget < 0:
            raise InputError(
                f"{path}: more than {MAX_PARSED_BYTES // (1024 * 1024)} MiB of Ingress, Gateway, Policy, "
                "Secret and ConfigMap objects to read; give the namespaces or objects that matter "
                "(kubectl get ingress,secret,configmap -n NS -o yaml)")

    wanted: list[tuple[str, _Chunk]] = []
    for path, text in texts.items():
        for chunk in split_chunks(text):
            if chunk.kind in MATERIAL_KINDS:
                material.append((path, chunk))
            elif chunk.kind is not None and chunk.kind not in WANTED_KINDS and not _list_resource_kind(chunk):
                skipped += 1
            else:
                wanted.append((path, chunk))
    for path, chunk in wanted:  # the whole budget is checked before anything is composed
        spend(chunk, path)
    for path, chunk in wanted:
        got, probs = _compose_chunk(chunk, path)
        for r in got:
            if r.kind in MATERIAL_KINDS or r.kind in WANTED_KINDS:
                resources.append(r)
            else:
                skipped += 1
        problems.extend(probs)
    names = _referenced_names(r for r in resources if r.kind not in MATERIAL_KINDS)
    needed = []
    for path, chunk in material:
        candidates = _chunk_names(chunk.text)
        if candidates is not None:  # kustomize's hash-suffixed generator names: name-<10 chars>
            candidates |= {m.group(1) for c in candidates if (m := re.fullmatch(r"(.+)-[a-z0-9]{10}", c))}
        if candidates is not None and not candidates & names and not (
                chunk.kind == "ConfigMap" and _CONTROLLER_CONFIG.search(chunk.text)):
            skipped += 1
            continue
        spend(chunk, path)
        needed.append((path, chunk))
    for path, chunk in needed:
        got, probs = _compose_chunk(chunk, path)
        resources.extend(got)
        problems.extend(probs)
    resources.sort(key=lambda r: (r.path, r.line))
    return ManifestSet(tuple(resources), tuple(problems), dict(texts), skipped)


# --------------------------------------------------------------------------- Secret data


@dataclass(frozen=True)
class SecretData:
    """A Secret's (or ConfigMap's) keys as bytes; ``bad`` names the keys whose base64 does not
    decode. Values never appear in ``repr``."""

    resource: Resource
    values: Mapping[str, bytes] = field(repr=False, default_factory=dict)
    bad: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        value = self.resource.body.get("type")
        return value if isinstance(value, str) else ""


def secret_data(resource: Resource) -> SecretData:
    """Decode ``data`` (base64) and ``stringData`` (text) of a Secret, ``data`` and
    ``binaryData`` of a ConfigMap (``stringData`` wins, as the API server merges it last)."""
    values: dict[str, bytes] = {}
    bad: list[str] = []
    if resource.kind == "Secret":
        encoded = (("data", True), ("stringData", False))
    else:
        encoded = (("binaryData", True), ("data", False))
    for key, is_b64 in encoded:
        node = resource.body.get(key)
        if not isinstance(node, Node) or not isinstance(node.value, dict):
            continue
        for name, value in node.value.items():
            if isinstance(value, Node):
                bad.append(str(name))
                continue
            text = "" if value is None else str(value)
            if is_b64:
                try:
                    values[str(name)] = base64.b64decode("".join(text.split()), validate=True)
                except (binascii.Error, ValueError):
                    bad.append(str(name))
            else:
                values[str(name)] = text.encode("utf-8", "replace")
    return SecretData(resource, values, tuple(bad))


# --------------------------------------------------------------------------- I/O


def _files_of(path: str) -> list[str]:
    if os.path.isdir(path):
        found = sorted(
            os.path.join(root, name)
            for root, _dirs, names in os.walk(path)
            for name in names
            if name.endswith(MANIFEST_SUFFIXES)
        )
        if not found:
            raise InputError(f"{path}: no *.yaml, *.yml or *.json files in this directory")
        return found
    return [path]


def read_paths(paths: Iterable[str], stdin_text: str | None = None) -> ManifestSet:
    """Read manifests from files, directories (every *.yaml/*.yml/*.json below) or ``-``
    (``stdin_text``, already read by the caller). InputError when nothing Kubernetes is in it."""
    from mtls_doctor.inputs import read_bytes

    texts: dict[str, str] = {}
    total = 0
    for path in paths:
        if path == "-":
            texts["<stdin>"] = stdin_text if stdin_text is not None else read_bytes(
                "-", limit=MAX_INPUT_BYTES, what="stdin").decode("utf-8", "replace")
            continue
        for file in _files_of(path):
            data = read_bytes(file, limit=MAX_INPUT_BYTES, pipe=file == path,
                              too_big=f"{file}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
            total += len(data)
            if total > MAX_INPUT_BYTES:
                raise InputError(f"{file}: the manifests together exceed {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
            texts[file] = data.decode("utf-8", "replace")
    for path, text in texts.items():
        if "\x00" in text:
            raise InputError(f"{path}: binary data, not YAML Kubernetes manifests")
    mset = parse_many(texts)
    if not mset.resources and not mset.skipped:
        first = mset.problems[0] if mset.problems else None
        where = f"{first.path}:{first.line}: {first.message}" if first else f"{', '.join(texts)}: no Kubernetes objects"
        raise InputError(where)
    return mset
