"""Local discovery: the nginx that RUNS (its -c/-p from the master's title), not /etc/nginx."""

from __future__ import annotations

import json

import pytest

from mtls_doctor.cli import main
from mtls_doctor.diagnose.discover import choose, parse_master_title, running_masters


def test_master_title_keeps_c_p_g():
    m = parse_master_title(7, "nginx: master process /usr/sbin/nginx -p /srv/x/ -c conf/n.conf "
                              "-g daemon off; master_process on;")
    assert (m.binary, m.prefix, m.conf, m.globals) == (
        "/usr/sbin/nginx", "/srv/x/", "/srv/x/conf/n.conf", "daemon off; master_process on;")
    assert m.args() == ["-p", "/srv/x/", "-c", "/srv/x/conf/n.conf", "-g", "daemon off; master_process on;"]
    assert parse_master_title(8, "nginx: worker process") is None


def test_choose_explains_itself():
    a = parse_master_title(1, "nginx: master process /usr/sbin/nginx")
    b = parse_master_title(2, "nginx: master process /usr/sbin/nginx -c /srv/b.conf")
    assert choose([a], None)[0] is a
    assert choose([a, b], 2) == (b, "--pid 2")
    chosen, why = choose([a, b], None)
    assert chosen is None and "--pid" in why
    assert choose([a], 99)[0] is None


@pytest.mark.nginx
def test_diagnose_reads_the_running_nginx_not_etc_nginx(nginx_bin, capsys):
    from tests.diagnose.corpus import STD, VERIFY_ON, _client_files, _file, server
    from mtls_doctor.lab.nginx import NginxServer

    files = {p: _file(s) for p, s in STD} | _client_files()
    # verify is off in the running configuration: diagnose must find it there, via -c
    with NginxServer(server("app.example.test", "    ssl_client_certificate pki/clients-ca.pem;\n"),
                     files=files, nginx_bin=nginx_bin) as srv:
        pid = srv.pid
        assert any(m.pid == pid and m.conf == str(srv.conf_path) for m in running_masters())
        capsys.readouterr()
        main(["diagnose", "--pid", str(pid), "--nginx", nginx_bin, "--format", "json",
              "--sni", "app.example.test", "--cert", str(srv.prefix / "clients/good-chain.pem"),
              "--key", str(srv.prefix / "clients/good.key"), "--timeout", "5"])
        data = json.loads(capsys.readouterr().out)
    assert data["config_file"] == str(srv.conf_path)
    assert any(f"pid {pid}" in n for n in data["notes"]), data["notes"]
    assert data["root_causes"][0]["cause"] == "verify-client-off"
    assert VERIFY_ON  # (the verifying variant is the corpus' business)


def test_unknown_pid_is_one_line_exit_2(capsys):
    code = main(["diagnose", "--pid", "999999999", "--no-probe"])
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
