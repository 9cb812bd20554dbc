"""``--format html``: one self-contained HTML file to share (attach to a ticket, open offline).

Rendered from ``report.view`` (built from the command's JSON document), so it says what
``--format json`` and ``--format markdown`` say. Invariants:
- pure: no I/O;
- self-contained: inline CSS and inline SVG only; no script, no external URL (a
  Content-Security-Policy of ``default-src 'none'`` says so to the browser), readable with
  scripts off and printable;
- every value from the document is HTML-escaped (a certificate subject or a config line cannot
  inject markup);
- sections, in order: verdict, root causes with evidence and fix (the top one marked
  ``id="top-cause"``), the handshake ladders as SVG pictures, the chain trees, the
  configuration excerpts, the findings, notes.
"""

from __future__ import annotations

from html import escape

from mtls_doctor.model import Report
from mtls_doctor.report.view import Attachments, Chain, Ladder, View, build_view

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--dim:#57606a;--line:#d0d7de;--bg:#f6f8fa}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:16px;margin:14px 0 4px}.meta{color:var(--dim);margin:0 0 12px}
.verdict{font-size:18px;font-weight:600;padding:10px 14px;border-radius:6px;margin:12px 0}
.verdict.ok{background:#dafbe1;color:var(--ok)}.verdict.bad{background:#ffebe9;color:var(--bad)}
table{border-collapse:collapse;width:100%;margin:6px 0}td,th{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--bg);padding:8px 10px;border-radius:6px;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.cause{border:1px solid var(--line);border-radius:6px;padding:8px 14px;margin:10px 0}
.cause.top{border:2px solid var(--bad)}.conf{color:var(--dim);font-weight:normal}
.src{color:var(--dim)}.fix{color:var(--ok)}.hit{background:#fff8c5;font-weight:600}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:22px}ul.tree{padding-left:0}
ul.tree li{margin:4px 0}.node{display:inline-block;border:1px solid var(--line);border-radius:6px;padding:3px 8px;background:#fff}
.node.err{border-color:var(--bad);background:#ffebe9}.role{color:var(--dim);font-size:13px}
.sev-critical,.sev-error{color:var(--bad);font-weight:600}.sev-warning{color:#9a6700;font-weight:600}
figure{margin:8px 0 18px}figcaption{color:var(--dim);font-size:13px}
footer{color:var(--dim);font-size:12px;margin-top:32px}
"""

_STATE_COLOUR = {"ok": "#1f2328", "failed": "#cf222e", "absent": "#8c959f"}
ROW = 46
WIDTH = 760
LEFT, RIGHT = 120, 640


def ladder_svg(ladder: Ladder, number: int = 0) -> str:
    """The ladder as an SVG picture: client and nginx lifelines, one arrow per message."""
    h = 60 + ROW * len(ladder.steps)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="ladder" '
             f'width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" '
             f'aria-label="{escape("TLS handshake: " + ladder.title)}">',
             f"<title>{escape('TLS handshake: ' + ladder.title)}</title>",
             "<defs>" + "".join(
                 f'<marker id="arrow{number}-{state}" viewBox="0 0 10 10" refX="9" refY="5" '
                 f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                 f'<path d="M0,0L10,5L0,10z" fill="{colour}"/></marker>'
                 for state, colour in _STATE_COLOUR.items()) + "</defs>",
             f'<text x="{LEFT}" y="20" text-anchor="middle" font-weight="bold" font-size="14" '
             'font-family="sans-serif">client</text>',
             f'<text x="{RIGHT}" y="20" text-anchor="middle" font-weight="bold" font-size="14" '
             'font-family="sans-serif">nginx</text>',
             f'<line x1="{LEFT}" y1="28" x2="{LEFT}" y2="{h - 8}" stroke="#57606a" stroke-width="2"/>',
             f'<line x1="{RIGHT}" y1="28" x2="{RIGHT}" y2="{h - 8}" stroke="#57606a" stroke-width="2"/>']
    for i, s in enumerate(ladder.steps):
        y = 56 + i * ROW
        colour = _STATE_COLOUR.get(s.state, "#1f2328")
        dash = ' stroke-dasharray="6 5"' if s.state == "absent" else ""
        x1, x2 = (LEFT, RIGHT) if s.direction == "c>s" else (RIGHT, LEFT)
        mark = f"url(#arrow{number}-{s.state if s.state in _STATE_COLOUR else 'ok'})"
        ends = f' marker-end="{mark}"' + (f' marker-start="{mark}"' if s.direction == "both" else "")
        parts.append(f'<g class="step {escape(s.state)}"><line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" '
                     f'stroke="{colour}" stroke-width="2"{dash}{ends}/>')
        label = s.label + {"failed": " (failed)", "absent": " (not sent)"}.get(s.state, "")
        parts.append(f'<text x="{(LEFT + RIGHT) // 2}" y="{y - 7}" text-anchor="middle" '
                     f'font-size="14" font-family="sans-serif" font-weight="bold" fill="{colour}">'
                     f"{escape(label)}</text>")
        detail = s.detail if len(s.detail) <= 90 else s.detail[:87] + "..."
        parts.append(f'<text x="{(LEFT + RIGHT) // 2}" y="{y + 16}" text-anchor="middle" '
                     f'font-size="12" font-family="sans-serif" fill="#57606a">{escape(detail)}'
                     f"<title>{escape(s.detail)}</title></text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _tree(chain: Chain) -> str:
    """The chain as a nested list: the top (root side) first, the leaf innermost."""
    html, close = [], 0
    for level, n in enumerate(chain.nodes):
        err = " err" if n.errors else ""
        errs = "".join(f'<br><span class="sev-error">error {escape(e)}</span>' for e in n.errors)
        html.append(f'<ul class="tree"><li><span class="node{err}">{escape(n.subject)}<br>'
                    f'<span class="role">depth {n.depth} · {escape(n.role)} · from '
                    f"{escape(n.source)} · issuer {escape(n.issuer)}</span>{errs}</span>")
        close += 1
    html.append("</li></ul>" * close)
    return "".join(html)


def view_html(view: View) -> str:
    e = escape
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'; img-src data:">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(view.title)}: {e(view.verdict)}</title><style>{CSS}</style></head><body><main>",
           f"<h1>{e(view.title)}</h1>"]
    if view.meta:
        out.append(f'<p class="meta">{" · ".join(e(m) for m in view.meta if m)}</p>')
    out.append(f'<p id="verdict" class="verdict {"ok" if view.ok else "bad"}">{e(view.verdict)}</p>')
    if view.facts:
        out.append('<table class="facts">' + "".join(
            f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in view.facts) + "</table>")
    if view.causes:
        out.append(f'<section id="causes"><h2>{"Root causes" if view.command == "diagnose" else "Why"}</h2>')
        for c in view.causes:
            conf = (f' <span class="conf">{round(c.confidence * 100)}%</span>'
                    if isinstance(c.confidence, (int, float)) else "")
            top = ' top" id="top-cause' if c.rank == 1 else ""
            out.append(f'<div class="cause{top}"><h3>{c.rank}. {e(c.cause)}'
                       f"{(' - ' + e(c.title)) if c.title else ''}{conf}</h3>")
            if c.summary:
                out.append(f"<p>{e(c.summary)}</p>")
            if c.evidence:
                out.append('<ul class="evidence">' + "".join(
                    f'<li><span class="src">[{e(s)}]</span> <code>{e(w)}</code> {e(t)}</li>'
                    for s, w, t in c.evidence) + "</ul>")
            if c.fix:
                out.append(f'<p class="fix"><b>fix:</b> {e(c.fix)}</p>')
            if c.snippet:
                out.append(f"<pre>{e(c.snippet)}</pre>")
            if c.facts:
                out.append(f'<p class="src">facts: {e(", ".join(c.facts))}</p>')
            out.append("</div>")
        out.append("</section>")
    if view.ladders:
        out.append('<section id="handshake"><h2>Handshake</h2>')
        for number, ladder in enumerate(view.ladders):
            out.append(f"<figure>{ladder_svg(ladder, number)}<figcaption>{e(ladder.title)}"
                       f"{(' - ' + e(ladder.outcome)) if ladder.outcome else ''}</figcaption></figure>")
        out.append("</section>")
    if view.chains:
        out.append('<section id="chain"><h2>Certificate chain</h2>')
        for chain in view.chains:
            out.append(f"<h3>{e(chain.title)}</h3>")
            if chain.verdict:
                out.append(f'<p class="src">{e(chain.verdict)}</p>')
            out.append(_tree(chain) if chain.nodes else "<p>(empty)</p>")
        out.append("</section>")
    if view.excerpts:
        out.append('<section id="config"><h2>Configuration</h2>')
        for x in view.excerpts:
            width = len(str(x.lines[-1][0])) if x.lines else 1
            body = "\n".join(
                (f'<span class="hit">{str(n).rjust(width)} | {e(t)}</span>' if n == x.line else
                 f"{str(n).rjust(width)} | {e(t)}") for n, t in x.lines)
            out.append(f"<h3><code>{e(x.file)}:{x.line}</code></h3><pre>{body}</pre>")
        out.append("</section>")
    if view.findings:
        out.append('<section id="findings"><h2>Findings</h2><table><tr><th>severity</th>'
                   "<th>rule</th><th>where</th><th>message</th><th>fix</th></tr>")
        for f in view.findings:
            fix = e(f.fix or "") + (f"<pre>{e(f.snippet)}</pre>" if f.snippet else "")
            out.append(f'<tr><td class="sev-{e(f.severity)}">{e(f.severity)}</td><td>{e(f.rule)} '
                       f'<span class="src">{e(f.name)}</span></td><td><code>{e(f.location)}</code>'
                       f"</td><td>{e(f.message)}</td><td>{fix}</td></tr>")
        out.append("</table></section>")
    if view.notes:
        out.append('<section id="notes"><h2>Notes</h2><ul>'
                   + "".join(f"<li>{e(n)}</li>" for n in view.notes) + "</ul></section>")
    out.append("<footer>mtls-doctor: this file is self-contained (no script, no external resource)."
               "</footer></main></body></html>")
    return "\n".join(out) + "\n"


def render_html(report: Report, attachments: Attachments | None = None) -> str:
    from mtls_doctor.report.json import document

    return view_html(build_view(document(report), attachments))


__all__ = ["render_html", "view_html", "ladder_svg"]
