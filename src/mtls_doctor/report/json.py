"""``--format json``: the Report's own ``to_dict()``, serialised deterministically."""

from __future__ import annotations

import json

from mtls_doctor.model import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
