"""Authentication with real clients (server side: `cache.auth` with tokens_file / token_env / users).

pyarrow.flight: static bearer tokens in call headers (`FlightCallOptions(headers=[(b"authorization",
b"Bearer ...")])`), `authenticate_basic_token(user, password)` (Flight Handshake with a Basic header,
answered with a bearer token), per-app scopes, auth over TLS. flamepy 0.6.0 has no auth support: with
auth on, its calls fail with UNAUTHENTICATED - the documented behaviour (auth is off by default, so
flamepy works unchanged). Tokens and passwords never appear in the server's logs, even at debug level.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import bson
import pyarrow.flight as flight
import pytest

import flight_util as fu
from conftest import CacheServer, forget_flamepy_client_state, free_port

TOKEN_ADMIN = "tok-admin-" + fu.uid(16)
TOKEN_APP1 = "tok-app1-" + fu.uid(16)
TOKEN_ENV = "tok-env-" + fu.uid(16)
PASSWORD = "pw-" + fu.uid(16)
SECRETS = [TOKEN_ADMIN, TOKEN_APP1, TOKEN_ENV, PASSWORD]
_issued: list = []  # bearer tokens issued by Handshake, checked against the logs too


@pytest.fixture(scope="module")
def auth_dir():
    d = Path(tempfile.mkdtemp(prefix="flame-auth-"))
    (d / "tokens").write_text(f"# token name apps\n{TOKEN_ADMIN} admin\n{TOKEN_APP1} worker app1\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _auth_yaml(d: Path, tls: str = "") -> Path:
    cfg = d / ("auth-tls.yaml" if tls else "auth.yaml")
    cfg.write_text(
        "cache:\n"
        "  auth:\n"
        f"    tokens_file: {d / 'tokens'}\n"
        "    token_env: CACHE_TEST_TOKEN_ENV\n"
        "    users:\n"
        "      - username: alice\n"
        f"        password: {PASSWORD}\n"
        "        apps: [appa]\n"
        "      - username: bob\n"
        f"        password: {PASSWORD}\n" + tls
    )
    return cfg


@pytest.fixture(scope="module")
def auth_server(auth_dir):
    os.environ["CACHE_TEST_TOKEN_ENV"] = TOKEN_ENV
    s = CacheServer("none", extra=["--config", str(_auth_yaml(auth_dir)), "--log-level", "debug"], name="auth").start()
    yield s
    alive = s.alive()
    s.stop()
    os.environ.pop("CACHE_TEST_TOKEN_ENV", None)
    assert alive, f"auth server died:\n{s.log_tail()}"


def bearer(token: str, timeout: float = fu.CALL_TIMEOUT) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(timeout=timeout, headers=[(b"authorization", f"Bearer {token}".encode())])


def put(c: flight.FlightClient, path: str, data: bytes, options: flight.FlightCallOptions) -> dict:
    schema = fu.OPAQUE_SCHEMA
    writer, reader = c.do_put(flight.FlightDescriptor.for_path(path), schema, options)
    try:
        writer.write_batch(fu.opaque_batch([data]))
        writer.done_writing()
        meta = reader.read()
    finally:
        writer.close()
    return bson.decode(bytes(meta))


def get(c: flight.FlightClient, key: str, options: flight.FlightCallOptions) -> bytes:
    table = c.do_get(flight.Ticket(key.encode()), options).read_all()
    return b"".join(d for d, k in zip(table.column("data").to_pylist(), table.column("kind").to_pylist()) if k == "base")


def test_no_or_bad_credentials_are_unauthenticated(auth_server, app):
    c = auth_server.client
    calls = {
        "DoPut": lambda o: put(c, f"{app}/s/o", b"x", o),
        "DoGet": lambda o: c.do_get(flight.Ticket(f"{app}/s/o".encode()), o).read_all(),
        "ListFlights": lambda o: list(c.list_flights(b"", o)),
        "GetFlightInfo": lambda o: c.get_flight_info(flight.FlightDescriptor.for_path(f"{app}/s/o"), o),
        "DoAction": lambda o: list(c.do_action(flight.Action("DELETE", f"{app}/*".encode()), o)),
        "ListActions": lambda o: list(c.list_actions(o)),
    }
    bad_options = {
        "none": fu.opts(),
        "wrong-token": bearer("not-a-token"),
        "basic-on-a-call": flight.FlightCallOptions(headers=[(b"authorization", b"Basic YWxpY2U6eA==")]),
        "malformed": flight.FlightCallOptions(headers=[(b"authorization", b"Bearer")]),
    }
    for name, call in calls.items():
        for what, o in bad_options.items():
            exc = fu.assert_status("UNAUTHENTICATED", call, o)
            assert isinstance(exc, flight.FlightUnauthenticatedError), (name, what, exc)
    assert auth_server.alive()


def test_static_bearer_tokens_in_call_headers(auth_server, app):
    c = auth_server.client
    payload = fu.make_payload(200_000, seed=1)
    for token in (TOKEN_ADMIN, TOKEN_ENV):
        ref = put(c, f"{app}/s/o", payload, bearer(token))
        assert ref["key"] == f"{app}/s/o"
        assert get(c, ref["key"], bearer(token)) == payload
    keys = [i.descriptor.path[0].decode() for i in c.list_flights(app.encode(), bearer(TOKEN_ADMIN))]
    assert keys == [f"{app}/s/o"]
    assert len(list(c.do_action(flight.Action("DELETE", f"{app}/*".encode()), bearer(TOKEN_ENV)))) == 1


def test_token_scoped_to_an_app(auth_server):
    c = auth_server.client
    assert put(c, "app1/s/o", b"mine", bearer(TOKEN_APP1))["key"] == "app1/s/o"
    exc = fu.assert_status("PERMISSION_DENIED", put, c, "app2/s/o", b"not mine", bearer(TOKEN_APP1))
    assert "app2" in str(exc)
    put(c, "app2/s/o", b"admin's", bearer(TOKEN_ADMIN))
    fu.assert_status("PERMISSION_DENIED", get, c, "app2/s/o", bearer(TOKEN_APP1))
    listed = [i.descriptor.path[0].decode() for i in c.list_flights(b"", bearer(TOKEN_APP1))]
    assert listed and all(k.startswith("app1/") for k in listed), listed


def test_authenticate_basic_token_handshake(auth_server):
    c = auth_server.client
    name, value = c.authenticate_basic_token("alice", PASSWORD, fu.opts())
    assert name.lower() == b"authorization" and value.startswith(b"Bearer ")
    _issued.append(value[len(b"Bearer ") :].decode())
    opts = flight.FlightCallOptions(timeout=fu.CALL_TIMEOUT, headers=[(name, value)])
    assert put(c, "appa/s/o", b"alice's", opts)["key"] == "appa/s/o"
    assert get(c, "appa/s/o", opts) == b"alice's"
    # alice is limited to appa.
    fu.assert_status("PERMISSION_DENIED", put, c, "appb/s/o", b"x", opts)
    # bob has no scope limit.
    bname, bvalue = c.authenticate_basic_token("bob", PASSWORD, fu.opts())
    _issued.append(bvalue[len(b"Bearer ") :].decode())
    assert put(c, "appb/s/o", b"bob's", flight.FlightCallOptions(headers=[(bname, bvalue)]))["key"] == "appb/s/o"


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("mallory", PASSWORD), ("", "")])
def test_basic_token_with_wrong_credentials_is_refused(auth_server, user, password):
    exc = fu.assert_status("UNAUTHENTICATED", auth_server.client.authenticate_basic_token, user, password, fu.opts())
    assert PASSWORD not in str(exc)


def test_flamepy_fails_with_auth_on(auth_server, app):
    """flamepy 0.6.0 sends no credentials: every cache call fails with UNAUTHENTICATED (documented)."""
    import flamepy.core.cache as fc
    from flamepy.core import put_object

    from conftest import configure_flamepy

    configure_flamepy(auth_server.uri)
    forget_flamepy_client_state()
    try:
        with pytest.raises(Exception) as ei:
            put_object(f"{app}/s", {"x": 1})
        assert fu.grpc_code(ei.value) == "UNAUTHENTICATED", ei.value
    finally:
        fc._context_cache = None
        forget_flamepy_client_state()


def test_auth_is_off_by_default_so_flamepy_works(flame, app):
    from flamepy.core import get_object, put_object

    forget_flamepy_client_state()
    ref = put_object(f"{app}/s", {"auth": "off"})
    assert get_object(ref) == {"auth": "off"}


def test_bearer_token_over_tls(auth_dir, app):
    """Auth with TLS (Arrow's guidance: bearer tokens only over TLS)."""
    import test_tls

    certs = auth_dir / "certs"
    certs.mkdir(exist_ok=True)
    test_tls.make_certs(certs)
    port = free_port()
    tls = f"  tls:\n    cert_file: {certs / 'server.pem'}\n    key_file: {certs / 'server.key'}\n"
    os.environ["CACHE_TEST_TOKEN_ENV"] = TOKEN_ENV
    s = CacheServer(
        "none",
        endpoint=f"grpcs://127.0.0.1:{port}",
        extra=["--config", str(_auth_yaml(auth_dir, tls)), "--log-level", "debug"],
        port=port,
        name="auth-tls",
    ).start()
    try:
        c = flight.FlightClient(f"grpc+tls://127.0.0.1:{port}", tls_root_certs=(certs / "ca.pem").read_bytes())
        fu.assert_status("UNAUTHENTICATED", put, c, f"{app}/s/o", b"x", fu.opts())
        ref = put(c, f"{app}/s/o", b"over tls", bearer(TOKEN_ADMIN))
        assert ref["endpoint"] == f"grpc+tls://127.0.0.1:{port}"
        name, value = c.authenticate_basic_token("bob", PASSWORD, fu.opts())
        _issued.append(value[len(b"Bearer ") :].decode())
        assert get(c, ref["key"], flight.FlightCallOptions(headers=[(name, value)])) == b"over tls"
        logs = s.log_path.read_text(errors="replace")
    finally:
        s.stop()
    for secret in SECRETS + _issued:
        assert secret not in logs, "a credential appears in the TLS server's log"


def test_tokens_never_in_logs(auth_server):
    """Runs last in this module: every credential used above is absent from the server log."""
    assert _issued, "the handshake tests ran first"
    logs = auth_server.log_path.read_text(errors="replace")
    assert '"level":"debug"' in logs, "the server logged at debug level"
    assert "UNAUTHENTICATED" in logs
    for secret in SECRETS + _issued:
        assert secret not in logs, "a credential appears in the server log"
    assert "Basic YWxpY2U6eA" not in logs
