"""stream and mail lines from a real nginx (dynamic modules libnginx-mod-stream / -mail).

Skipped when the modules are not installed (nginx-light has neither built in).
"""

from __future__ import annotations

import pytest

from mtls_doctor.logs.summary import summarize
from tests.logs.stream_lab import modules, run_stream_mail

pytestmark = pytest.mark.nginx


def test_stream_and_mail_client_certificate_failures(tmp_path, nginx_bin):
    mods = modules(nginx_bin)
    if not mods:
        pytest.skip("no ngx_stream_module.so / ngx_mail_module.so (apt-get install libnginx-mod-stream libnginx-mod-mail)")
    log = run_stream_mail(tmp_path, nginx_bin)
    groups = {g.cause.id: g for g in summarize(log.splitlines()).groups}
    n = len(mods)  # one server per module; each gets one client without and one with an expired cert
    assert groups["no-required-certificate"].count == n
    assert groups["client-cert-verify-failed:10"].count == n
    for cause in ("no-required-certificate", "client-cert-verify-failed:10"):
        g = groups[cause]
        assert g.protocols == ("stream-or-mail",) and g.clients == ("127.0.0.1",)
        assert all(s.startswith("127.0.0.1:") for s in g.servers)
    # the readiness probe's bare TCP connects: "peer closed connection in SSL handshake"
    assert groups["client-closed-during-handshake"].count >= n
    # the SSL_shutdown() [crit] noise after a stream/mail rejection is not a cause of its own
    assert set(groups) == {"no-required-certificate", "client-cert-verify-failed:10",
                           "client-closed-during-handshake"}
