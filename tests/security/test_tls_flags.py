"""The new flags refuse bad values at parse time; TLS files that do not load stop the start; --listen without TLS
warns. (The https server itself is tested in test_shared_instance.py.)"""

import importlib.util
import logging

import pytest

from tests.security.shared_instance import make_self_signed
from tests.support.server import ROOT
from webui.config.flags import parse_flags


def app_module():
    spec = importlib.util.spec_from_file_location("kestrel_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("argv", "message"), [
    (["--tls-keyfile", "k.pem"], "go together"),
    (["--http-redirect-port", "7880"], "needs --tls-keyfile"),
    (["--trusted-proxies", "10.0.0.0/33"], "is not an IP address or network"),
    (["--user-quota", "steps=lots"], "must be a whole number"),
])
def test_bad_flags_exit_with_a_message_naming_them(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_flags(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_tls_files_that_do_not_load_stop_the_start_and_a_good_pair_passes(tmp_path):
    app = app_module()
    key, cert = make_self_signed(tmp_path)
    assert app.tls_problem(parse_flags(["--tls-keyfile", str(key), "--tls-certfile", str(cert)])) is None
    (tmp_path / "broken.pem").write_text("not a key")
    problem = app.tls_problem(parse_flags(["--tls-keyfile", str(tmp_path / "broken.pem"), "--tls-certfile",
                                           str(cert)]))
    assert problem is not None and "broken.pem" in problem and "cannot use them" in problem


def test_listen_without_tls_warns(tmp_path, caplog):
    app = app_module()
    with caplog.at_level(logging.INFO):
        app.warn_about_transport(parse_flags(["--listen"]))
    assert "--listen without TLS" in caplog.text
    caplog.clear()
    key, cert = make_self_signed(tmp_path)
    with caplog.at_level(logging.INFO):
        app.warn_about_transport(parse_flags(["--listen", "--tls-keyfile", str(key), "--tls-certfile", str(cert)]))
    assert "--listen without TLS" not in caplog.text and "self-signed" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        app.warn_about_transport(parse_flags(["--listen", "--tls-keyfile", str(key), "--tls-certfile", str(cert),
                                              "--disable-tls-verify"]))
    assert caplog.text == ""
