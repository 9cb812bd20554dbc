"""Parse nginx configuration into a tree of directives that each keep ``file:line``.

Invariants of this module:
- tokens are crossplane's (``crossplane.lexer._lex_file_object``, which also handles
  ``*_by_lua_block`` bodies and ``${VAR}`` templates), through the faster equivalent
  ``lex.tokens``; the block structure is built here so that every node keeps its file and
  line and comments are kept for suppressions;
- ``include`` is resolved as nginx does (``ngx_conf_include``): a relative path is relative to
  the configuration prefix (the directory of the main file), glob patterns expand in sorted
  order and may match nothing, a plain path must exist; it works in every context (main,
  ``http``, ``server``, ``location``, ``stream``, ...);
- the core (``parse_sources``) does no I/O: it reads through a ``Reader``. ``load_path`` (a
  file or a directory) and ``parse_dump`` (``nginx -T`` output) are the two entry points;
- a syntax error raises ``ConfigSyntaxError`` (an ``InputError``: one line with file:line);
  a missing include is a ``ParseProblem`` (reported as a finding), never a traceback;
- template placeholders (``${VAR}``, ``{{ }}``, ``{% %}``, ``<% %>``: ``nginx.templates``) are
  unknown values, never text that changes the parse: each file is neutralized before it is
  tokenized and every token is restored to the text as written;
- a fragment (a conf.d snippet of ``server`` blocks, the inside of a ``server`` or a
  ``location``, an include-only snippet) is detected (``detect_context``) or given
  (``context=``) and analysed as if wrapped in the blocks nginx would read it in
  (``wrap``); the synthetic blocks sit at the fragment's line 1 and ``Config.context`` says
  which level the fragment is.
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Protocol

from mtls_doctor.model import InputError, Location

MAX_INCLUDE_DEPTH = 32
#: directives that include expansion may produce in all: a file included twice by a file included
#: twice ... (an "include bomb": 2^31 copies at depth 31) must end in one line, not a hang
MAX_EXPANDED = 2_000_000
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class Directive:
    """One directive: name, arguments (unquoted), where it is, and its block (None if simple)."""

    name: str
    args: tuple[str, ...]
    path: str
    line: int
    block: tuple["Directive", ...] | None = None

    @property
    def location(self) -> Location:
        return Location(path=self.path, line=self.line)

    def children(self, name: str) -> tuple["Directive", ...]:
        return tuple(d for d in self.block or () if d.name == name)

    def walk(self) -> Iterator["Directive"]:
        """This directive and everything below it, depth first, in file order."""
        stack = [self]
        while stack:  # iterative: recursive generators cost a frame per level per node
            node = stack.pop()
            yield node
            if node.block:
                stack.extend(reversed(node.block))

    def __repr__(self) -> str:
        return f"Directive({self.name!r}, {self.args!r}, {self.path}:{self.line})"


@dataclass(frozen=True)
class ParseProblem:
    """A non-fatal problem: an include that matches no file, an include loop."""

    path: str
    line: int
    message: str


@dataclass(frozen=True)
class Config:
    """A parsed configuration with every include expanded in place."""

    main: str
    prefix: str  # nginx's conf prefix: relative include/ssl_* paths resolve against it
    root: tuple[Directive, ...]
    files: tuple[str, ...]
    problems: tuple[ParseProblem, ...] = ()
    comments: Mapping[tuple[str, int], str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    #: the level the main file's directives are at: "main" (a whole configuration), or a
    #: fragment's "http", "server", "location", "stream" or "mail" (wrapped, see ``wrap``)
    context: str = "main"
    #: template placeholders per file (``nginx.templates.Placeholder``), files without none
    templates: Mapping[str, tuple] = field(default_factory=dict)

    def walk(self) -> Iterator[Directive]:
        for d in self.root:
            yield from d.walk()

    def resolve(self, path: str) -> str:
        """A path as nginx resolves an ``ssl_*`` or ``include`` argument (conf prefix)."""
        return path if posixpath.isabs(path) else posixpath.normpath(posixpath.join(self.prefix, path))


class ConfigSyntaxError(InputError):
    """The configuration cannot be parsed: ``path:line: message`` on one line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


class Reader(Protocol):
    def read(self, path: str) -> str | None: ...
    def glob(self, pattern: str) -> list[str]: ...


class DictReader:
    """Files held in memory (the sections of ``nginx -T`` output, or tests)."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(files)

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(p for p in self.files if fnmatch.fnmatchcase(p, pattern) and _same_depth(p, pattern))


def _same_depth(path: str, pattern: str) -> bool:
    # glob(3) does not let ``*`` cross ``/``; fnmatch does, so compare the segment counts
    return path.count("/") == pattern.count("/")


class FileReader:
    """The filesystem, through the bounded reader (``mtls_doctor.inputs``): regular files only,
    at most ``MAX_FILE_BYTES``. A missing file reads as None (reported as a problem); any other
    refusal (a device, a FIFO, too big, unreadable) raises ``InputError`` with its reason."""

    def read(self, path: str) -> str | None:
        from mtls_doctor.inputs import read_bytes

        if "\x00" not in path and not os.path.lexists(path):
            return None
        data = read_bytes(path, limit=MAX_FILE_BYTES, pipe=False)
        return data.decode("utf-8", errors="replace")

    def glob(self, pattern: str) -> list[str]:
        # ngx_open_glob() uses glob(3) without GLOB_NOSORT: sorted; directories are skipped
        return sorted(p for p in _glob.glob(pattern) if not os.path.isdir(p))


_GLOB_CHARS = re.compile(r"[*?\[]")


def _tokens(text: str) -> Iterator[tuple[str, int, bool]]:
    # crossplane's token stream; nginx.lex reproduces it faster for ordinary files (tested
    # differentially) and defers to crossplane for lua blocks and ${...} templates
    from mtls_doctor.nginx.lex import tokens

    return tokens(text)


def parse_text(text: str, path: str, placeholders: list | None = None
               ) -> tuple[tuple[Directive, ...], dict[tuple[str, int], str]]:
    """One file's directives (includes not expanded) and its comments by (path, line).
    Template placeholders found are appended to ``placeholders`` when given."""
    from mtls_doctor.nginx.templates import neutralize

    neutral = neutralize(text, path)
    if placeholders is not None:
        placeholders.extend(neutral.placeholders)
    restore = neutral.restore
    comments: dict[tuple[str, int], str] = {}
    stack: list[tuple[str, tuple[str, ...], int, list[Directive]]] = []
    current: list[Directive] = []
    name: str | None = None
    name_line = 0
    args: list[str] = []
    last_line = 1
    try:
        for token, line, quoted in _tokens(neutral.text):
            last_line = line
            if neutral.values:
                token = restore(token)
            if not quoted and token.startswith("#"):
                comments[(path, line)] = token
                continue
            special = not quoted and token in ("{", "}", ";")
            if name is None:
                if special and token == "}":
                    if not stack:
                        raise ConfigSyntaxError(path, line, 'unexpected "}"')
                    bname, bargs, bline, parent = stack.pop()
                    parent.append(Directive(bname, bargs, path, bline, tuple(current)))
                    current = parent
                elif special:
                    raise ConfigSyntaxError(path, line, f'unexpected "{token}"')
                else:
                    name, name_line, args = token, line, []
            elif special and token == ";":
                current.append(Directive(name, tuple(args), path, name_line))
                name = None
            elif special and token == "{":
                stack.append((name, tuple(args), name_line, current))
                current, name = [], None
            elif special:
                raise ConfigSyntaxError(path, line, 'unexpected "}"')
            else:
                args.append(token)
    except ConfigSyntaxError:
        raise
    except Exception as exc:  # the lexer on hostile input: still one clear line
        raise ConfigSyntaxError(path, last_line, f"cannot tokenize: {exc or type(exc).__name__}") from None
    eof_line = text.count("\n") + 1  # nginx reports EOF errors on the line after the last newline
    if name is not None:
        raise ConfigSyntaxError(path, eof_line, 'unexpected end of file, expecting ";" or "}"')
    if stack:
        raise ConfigSyntaxError(path, eof_line, 'unexpected end of file, expecting "}"')
    return tuple(current), comments


def parse_sources(main: str, reader: Reader, prefix: str | None = None, context: str | None = None) -> Config:
    """Parse ``main`` and every file it includes, read through ``reader`` (no other I/O).
    ``context``: the level ``main``'s directives are at (``CONTEXTS``); None detects it."""
    if context is not None and context not in CONTEXTS:
        raise InputError(f"--context {context}: expected one of {', '.join(CONTEXTS)}")
    prefix = prefix if prefix is not None else posixpath.dirname(main) or "."
    parsed: dict[str, tuple[Directive, ...]] = {}
    placeholders: dict[str, list] = {}
    comments: dict[tuple[str, int], str] = {}
    sources: dict[str, str] = {}
    problems: list[ParseProblem] = []
    order: list[str] = []
    sizes: dict[str, int] = {}  # directives in each parsed file, includes not expanded
    expanded = [0]

    def load(path: str) -> tuple[Directive, ...] | None:
        if path in parsed:
            return parsed[path]
        text = reader.read(path)
        if text is None:
            return None
        found: list = []
        tree, file_comments = parse_text(text, path, found)
        if found:
            placeholders[path] = found
        parsed[path], sources[path] = tree, text
        comments.update(file_comments)
        order.append(path)
        return tree

    def expand(nodes: tuple[Directive, ...], depth: int, chain: tuple[str, ...]) -> tuple[Directive, ...]:
        # iterative (an explicit stack of [block, next index, expanded, changed]): nginx -t
        # accepts blocks nested 1,000 deep, which would overflow Python's recursion limit;
        # only include nesting recurses, bounded by MAX_INCLUDE_DEPTH
        stack: list[list] = [[nodes, 0, [], False]]
        finished: tuple[Directive, ...] | None = None
        while True:
            frame = stack[-1]
            items, index, out = frame[0], frame[1], frame[2]
            if finished is not None:  # the block of items[index - 1] is expanded
                node, block, finished = items[index - 1], finished, None
                if block is not node.block:
                    node, frame[3] = Directive(node.name, node.args, node.path, node.line, block), True
                out.append(node)
                continue
            if index == len(items):
                stack.pop()
                done = tuple(out) if frame[3] else items  # untouched subtrees are shared
                if not stack:
                    return done
                finished = done
                continue
            node = items[index]
            frame[1] = index + 1
            if node.name == "include" and node.block is None:
                out.extend(include(node, depth, chain))
                frame[3] = True
            elif node.block is not None:
                stack.append([node.block, 0, [], False])
            else:
                out.append(node)

    def include(node: Directive, depth: int, chain: tuple[str, ...]) -> list[Directive]:
        if len(node.args) != 1:
            problems.append(ParseProblem(node.path, node.line, 'invalid number of arguments in "include" directive'))
            return []
        target = node.args[0]
        target = target if posixpath.isabs(target) else posixpath.join(prefix, target)
        if _GLOB_CHARS.search(target):
            paths = reader.glob(target)
        else:
            paths = [target]
        out: list[Directive] = []
        for path in paths:
            if path in chain or depth >= MAX_INCLUDE_DEPTH:
                problems.append(ParseProblem(node.path, node.line, f'include loop through "{path}"'))
                continue
            try:
                tree = load(path)
            except ConfigSyntaxError:
                raise
            except InputError as exc:  # /dev/zero, a FIFO, too big: nginx could not use it either
                problems.append(ParseProblem(node.path, node.line, f'include "{path}": {exc}'))
                continue
            if tree is None:
                problems.append(ParseProblem(node.path, node.line, f'open() "{path}" failed (no such or unreadable file)'))
                continue
            if path not in sizes:
                sizes[path] = sum(1 for d in tree for _ in d.walk())
            expanded[0] += sizes[path]
            if expanded[0] > MAX_EXPANDED:
                raise ConfigSyntaxError(node.path, node.line, f'includes expand to more than '
                                        f'{MAX_EXPANDED:,} directives (a file included many times over?)')
            out.extend(expand(tree, depth + 1, chain + (path,)))
        return out

    tree = load(main)
    if tree is None:
        raise InputError(f"{main}: cannot read the configuration file")
    root = expand(tree, 0, (main,))
    level = context or detect_context(root)
    root = wrap(root, level, main)
    templates = {p: tuple(v) for p, v in placeholders.items()}
    if templates:
        root = _templated_listens_as_tls(root, templates)
    return Config(main, prefix, root, tuple(order), tuple(problems), comments, sources, level, templates)


#: server directives that make a server a TLS one in any rendering that makes sense
_TLS_SIGNS = frozenset({"ssl_certificate", "ssl_verify_client", "ssl_client_certificate"})


def _templated_listens_as_tls(root: tuple[Directive, ...], templates: Mapping[str, tuple]) -> tuple[Directive, ...]:
    """A ``listen`` whose value is a template placeholder (``listen {{ vhost.listen }};``) and
    that has no literal ``ssl``, in a server that configures TLS, is read as a TLS listener
    (``ssl`` added to its arguments): its ssl_* directives would do nothing otherwise.
    MTLS290 says the listener depends on the rendering."""
    from mtls_doctor.nginx.templates import has_placeholder

    def server(node: Directive) -> Directive:
        inner = node.block or ()
        if not any(d.name in _TLS_SIGNS for d in inner):
            return node
        out = tuple(Directive(d.name, d.args + ("ssl",), d.path, d.line, d.block)
                    if d.name == "listen" and "ssl" not in d.args[1:] and d.args
                    and has_placeholder(" ".join(d.args), templates.get(d.path, ())) else d for d in inner)
        return node if all(a is b for a, b in zip(out, inner)) else Directive(
            node.name, node.args, node.path, node.line, out)

    new = []
    for top in root:
        if top.name in ("http", "stream") and top.block:
            block = tuple(server(d) if d.name == "server" and d.block is not None else d for d in top.block)
            if any(a is not b for a, b in zip(block, top.block)):
                top = Directive(top.name, top.args, top.path, top.line, block)
        new.append(top)
    return tuple(new)


#: the levels a fragment can be at (``--context``); "main" is a whole configuration
CONTEXTS = ("main", "http", "server", "location", "stream", "mail")

#: directives of nginx's main level only (ngx_core_module, ngx_events_module, load_module ...)
_MAIN_ONLY = frozenset({
    "http", "stream", "mail", "events", "worker_processes", "user", "pid", "load_module",
    "daemon", "master_process", "worker_rlimit_nofile", "worker_rlimit_core", "env",
    "thread_pool", "timer_resolution", "pcre_jit", "ssl_engine", "lock_file",
    "working_directory", "worker_cpu_affinity", "worker_priority", "worker_shutdown_timeout",
    "debug_points", "google_perftools_profiles", "error_log_syslog", "include_main",
})
#: blocks that only sit in http (or stream: upstream, map, geo)
_HTTP_BLOCKS = frozenset({"upstream", "map", "geo", "split_clients", "types", "limit_req_zone"})
#: directives of a server (and not of http): their presence makes a fragment server-level
_SERVER_LEVEL = frozenset({"listen", "server_name", "location", "ssl_reject_handshake"})
#: directives of a location (and not of a server): a location-level fragment
_LOCATION_LEVEL = frozenset({
    "proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass",
    "alias", "limit_except", "internal", "content_by_lua_block", "content_by_lua_file",
    "content_by_lua", "js_content", "stub_status",
})
#: what marks a top-level ``server`` as a stream (TCP/UDP) server rather than an http one
_STREAM_ONLY = frozenset({"ssl_preread", "proxy_connect_timeout", "proxy_responses",
                          "proxy_upload_rate", "proxy_download_rate"})


def detect_context(root: tuple[Directive, ...]) -> str:
    """The level a file's top-level directives are at, as nginx would need them wrapped."""
    names = {d.name for d in root}
    if not names or names & _MAIN_ONLY:
        return "main"
    servers = [d for d in root if d.name == "server" and d.block is not None]
    if servers or names & _HTTP_BLOCKS:
        return "stream" if servers and all(_stream_server(s) for s in servers) else "http"
    if names & _SERVER_LEVEL:
        return "server"
    if names & _LOCATION_LEVEL:
        return "location"
    if names <= {"include", "error_log"} or not names - {"include", "error_log"}:
        return "main"
    return "server"  # ssl_*, proxy_set_header, add_header ...: the usual server snippet


def _stream_server(server: Directive) -> bool:
    inner = {d.name for d in server.block or ()}
    if inner & _STREAM_ONLY:
        return True
    if inner & {"location", "server_name", "root", "index", "try_files"}:
        return False
    passes = [d for d in server.block or () if d.name == "proxy_pass"]
    return bool(passes) and all(d.args and "://" not in d.args[0] for d in passes)


def _wants_tls(nodes: tuple[Directive, ...]) -> bool:
    """A fragment that configures or checks TLS is meant for a TLS server."""
    for top in nodes:
        for d in top.walk():
            if d.name.startswith("ssl_") or any("$ssl_" in a or "${ssl_" in a for a in d.args):
                return True
    return False


def wrap(root: tuple[Directive, ...], level: str, path: str) -> tuple[Directive, ...]:
    """``root`` inside the blocks nginx reads it in. The synthetic nodes sit at ``path`` line
    ``SYNTHETIC_LINE`` (0: no line of the file; findings there are about surroundings the
    fragment does not hold). A server-level fragment gets a server (with ``listen 443 ssl``
    when it has no listen and configures TLS); a location-level one ``location /`` in such a
    server, which requests client certificates when the fragment reads ``$ssl_client_*``
    (``optional`` when it checks ``$ssl_client_verify`` itself, else ``on``)."""
    def block(name: str, args: tuple[str, ...], inner: tuple[Directive, ...]) -> Directive:
        return Directive(name, args, path, SYNTHETIC_LINE, inner)

    def server(inner: tuple[Directive, ...], extra: tuple[Directive, ...] = ()) -> Directive:
        if not any(d.name == "listen" for d in inner):
            listen = ("443", "ssl") if _wants_tls(inner) else ("80",)
            extra = (Directive("listen", listen, path, SYNTHETIC_LINE),) + extra
        return block("server", (), extra + inner)

    if level == "main":
        return root
    if level in ("http", "stream", "mail"):
        return (block(level, (), root),)
    if level == "server":
        return (block("http", (), (server(root),)),)
    args = [a for top in root for d in top.walk() for a in d.args]
    verify: tuple[Directive, ...] = ()
    if any("ssl_client_verify" in a for a in args):
        verify = (Directive("ssl_verify_client", ("optional",), path, SYNTHETIC_LINE),)
    elif any("ssl_client_" in a for a in args):
        verify = (Directive("ssl_verify_client", ("on",), path, SYNTHETIC_LINE),)
    return (block("http", (), (server((block("location", ("/",), root),), verify),)),)


#: the line of the blocks ``wrap`` adds around a fragment (no line of the file)
SYNTHETIC_LINE = 0


def load_path(path: str | Path, prefix: str | None = None, context: str | None = None) -> Config:
    """Parse a configuration file from disk (includes resolved on disk). ``prefix``: nginx's
    conf prefix for relative paths (default: ``guess_prefix``); ``context``: the level of a
    fragment (default: detected)."""
    p = str(path)
    if os.path.isdir(p):
        raise InputError(f"{p}: is a directory (use load_directory)")
    if not os.path.exists(p):
        raise InputError(f"{p}: no such file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: not readable")
    if not os.path.isfile(p):  # /dev/zero, a FIFO: nothing a config can be read from whole
        raise InputError(f"{p}: not a regular file")
    if "\x00" in p:
        raise InputError(f"{p!r}: the path contains a NUL byte")
    p = os.path.abspath(p)
    reader = FileReader()
    if prefix is None:
        prefix = guess_prefix(p, reader)
    return parse_sources(p, reader, prefix=os.path.abspath(prefix), context=context)


_MAIN_LINE = re.compile(r"^[ \t]*(?:http|events|stream|mail|worker_processes|user|pid|load_module)[ \t{;]", re.M)
#: how many directories above a fragment ``guess_prefix`` looks for nginx.conf
PREFIX_SEARCH_DEPTH = 3


def guess_prefix(path: str, reader: Reader) -> str:
    """nginx's conf prefix for ``path``. A whole configuration is its own prefix (nginx -c: the
    directory of the file). A fragment is read by nginx through an ``include`` of the main
    file, so its relative includes and ssl_* paths resolve against the main file's directory,
    not the fragment's (ngx_conf_include -> ngx_conf_full_name with the conf prefix): the
    nearest directory at or above the fragment that holds an nginx.conf (e.g.
    /etc/nginx/snippets/x.conf -> /etc/nginx), else the fragment's own directory."""
    here = posixpath.dirname(path) or "."
    text = reader.read(path)
    if text is None:
        return here
    if _MAIN_LINE.search(text):  # a line-level look, not a second parse of a large file
        return here
    folder = here
    for _ in range(PREFIX_SEARCH_DEPTH + 1):
        candidate = posixpath.join(folder, "nginx.conf")
        if candidate != path and os.path.isfile(candidate):
            return folder
        parent = posixpath.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return here


def directory_mains(directory: str | Path) -> list[str]:
    """The files to lint in a directory: ``nginx.conf`` if present, else every ``*.conf``."""
    d = os.path.abspath(str(directory))
    main = os.path.join(d, "nginx.conf")
    if os.path.isfile(main):
        return [main]
    found = sorted(str(p) for p in Path(d).rglob("*.conf") if p.is_file())
    if not found:
        raise InputError(f"{d}: no nginx.conf and no *.conf files in this directory")
    return found


class _WithMain(FileReader):
    """The filesystem plus one synthetic main file (for a directory of conf.d snippets)."""

    def __init__(self, main: str, text: str) -> None:
        self.main, self.text = main, text

    def read(self, path: str) -> str | None:
        return self.text if path == self.main else super().read(path)


def load_directory(directory: str | Path) -> list[Config]:
    """A directory: its nginx.conf; else its *.conf files judged together, as if included one
    after the other in ``http`` (so default servers across files come out as nginx sees them);
    other files (a whole configuration, a server- or location-level fragment) are parsed on
    their own."""
    mains = directory_mains(directory)
    if len(mains) == 1:
        return [load_path(mains[0])]
    singles = [load_path(p) for p in mains]
    snippets = [c for c in singles if c.context == "http"]  # conf.d files of server blocks
    if len(snippets) < 2:
        return singles
    d = os.path.abspath(str(directory))
    main = os.path.join(d, "(*.conf)")
    text = "".join(f'include "{c.main}";\n' for c in snippets)
    combined = parse_sources(main, _WithMain(main, text), prefix=d, context="http")
    others = [c for c in singles if all(c is not s for s in snippets)]
    return [combined, *others]


_DUMP_HEADER = re.compile(r"^# configuration file (.+):\s*$")


def split_dump(text: str) -> dict[str, str]:
    """The files of ``nginx -T`` output: ``# configuration file <path>:`` starts each one."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        match = _DUMP_HEADER.match(line)
        if match:
            current = files.setdefault(match.group(1), [])
            continue
        if current is not None:
            current.append(line)
    return {path: "".join(lines) for path, lines in files.items()}


def parse_dump(text: str) -> Config:
    """Parse ``nginx -T`` output; the first section is the main file."""
    files = split_dump(text)
    if not files:
        raise InputError("stdin: no '# configuration file <path>:' sections; is this `nginx -T` output?")
    main = next(iter(files))
    return parse_sources(main, DictReader(files))


def is_snippet(config: Config) -> bool:
    """A file whose top level holds ``server`` blocks (a conf.d snippet meant for ``http``)."""
    names = {d.name for d in config.root}
    return "http" not in names and "stream" not in names and ("server" in names or "location" in names)

