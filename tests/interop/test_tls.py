"""TLS and mutual TLS with real clients: pyarrow.flight (grpc+tls://, tls_root_certs, cert_chain/private_key)
and flamepy 0.6.0 (FLAME_CACHE_ENDPOINT=grpcs://..., FLAME_CA_FILE).

Server: `--listen 127.0.0.1:PORT --endpoint grpcs://127.0.0.1:PORT --config cfg.yaml` with
`cache.tls.cert_file/key_file` (server TLS) and `cache.tls.ca_file` (mutual TLS: client certificates
verified against that CA). It advertises `grpc+tls://127.0.0.1:PORT` in every ObjectRef and FlightInfo.

Certificates are generated here with openssl: a test CA, a server certificate with IP SAN 127.0.0.1
(and DNS localhost), a client certificate (clientAuth), and a rogue CA with its own client certificate.
flamepy 0.6.0 has no client-certificate setting, so against a mutual-TLS server it cannot connect.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow.flight as flight
import pytest

import flight_util as fu
from conftest import CacheServer, free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not on PATH")

_EXT = {
    "server": "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
    "client": "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_certs(d: Path) -> dict:
    """CA + server + client certificates (EC P-256) and a rogue CA + client, in directory `d`."""
    for ca in ("ca", "rogue-ca"):
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=flame-test-{ca}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=d,
        )  # fmt: skip
    for name, ca, ext in (("server", "ca", "server"), ("client", "ca", "client"), ("rogue", "rogue-ca", "client")):
        (d / f"{name}.ext").write_text(_EXT[ext])
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=flame-test-{name}",
            cwd=d,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d,
        )  # fmt: skip
    return {p.stem if p.suffix == ".pem" else p.name: p for p in d.iterdir()}


def tls_server(certs_dir: Path, *, mutual: bool, name: str, extra=None) -> CacheServer:
    port = free_port()
    cfg = certs_dir / f"{name}.yaml"
    lines = ["cache:", "  tls:", f"    cert_file: {certs_dir / 'server.pem'}", f"    key_file: {certs_dir / 'server.key'}"]
    if mutual:
        lines.append(f"    ca_file: {certs_dir / 'ca.pem'}")
    cfg.write_text("\n".join(lines) + "\n")
    return CacheServer(
        "none",
        endpoint=f"grpcs://127.0.0.1:{port}",
        extra=["--config", str(cfg), *(extra or [])],
        port=port,
        name=name,
    ).start()


@pytest.fixture(scope="module")
def certs():
    d = Path(tempfile.mkdtemp(prefix="flame-tls-"))
    make_certs(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tls(certs):
    s = tls_server(certs, mutual=False, name="tls")
    yield s
    alive = s.alive()
    s.stop()
    assert alive, f"TLS server died:\n{s.log_tail()}"


@pytest.fixture(scope="module")
def mtls(certs):
    s = tls_server(certs, mutual=True, name="mtls")
    yield s
    alive = s.alive()
    s.stop()
    assert alive, f"mutual-TLS server died:\n{s.log_tail()}"


def tls_uri(server: CacheServer) -> str:
    return f"grpc+tls://127.0.0.1:{server.port}"


def client(server: CacheServer, certs: Path, *, ca="ca", cert=None) -> flight.FlightClient:
    kw = {}
    if ca:
        kw["tls_root_certs"] = (certs / f"{ca}.pem").read_bytes()
    if cert:
        kw["cert_chain"] = (certs / f"{cert}.pem").read_bytes()
        kw["private_key"] = (certs / f"{cert}.key").read_bytes()
    return flight.FlightClient(tls_uri(server), generic_options=fu.GRPC_OPTIONS, **kw)


def roundtrip(c: flight.FlightClient, key: str, payload: bytes) -> dict:
    ref = fu.put_opaque(c, key, payload).ref
    assert fu.get_raw(c, ref["key"]).base_data == payload
    return ref


# ---------------------------------------------------------------------------------------------- server TLS


def test_tls_pyarrow_roundtrip_and_advertised_endpoint(tls, certs, app):
    c = client(tls, certs)
    payload = fu.make_payload(3 * 1024 * 1024, seed=7)
    ref = roundtrip(c, f"{app}/s/o1", payload)
    assert ref["endpoint"] == tls_uri(tls) == tls.endpoint.replace("grpcs://", "grpc+tls://")
    infos = list(c.list_flights(app.encode(), fu.opts()))
    assert [i.descriptor.path[0].decode() for i in infos] == [f"{app}/s/o1"]
    assert [str(loc.uri.decode()) for e in infos[0].endpoints for loc in e.locations] == [tls_uri(tls)]
    info = c.get_flight_info(flight.FlightDescriptor.for_path(f"{app}/s/o1"), fu.opts())
    assert info.endpoints[0].locations[0].uri.decode() == tls_uri(tls)
    c.close()


def test_tls_client_that_does_not_trust_the_ca_is_refused(tls, certs):
    # System roots only: the test CA is unknown, the handshake fails.
    c = flight.FlightClient(tls_uri(tls), generic_options=fu.GRPC_OPTIONS)
    status, exc = fu.call_status(lambda: list(c.list_actions(fu.opts(10))))
    assert status == "UNAVAILABLE", fu.short(exc, 400)
    assert "certificate" in str(exc).lower() or "handshake" in str(exc).lower(), exc
    # The rogue CA does not vouch for the server either.
    c2 = client(tls, certs, ca="rogue-ca")
    assert fu.call_status(lambda: list(c2.list_actions(fu.opts(10))))[0] == "UNAVAILABLE"
    # Plaintext to the TLS port is refused.
    c3 = flight.FlightClient(f"grpc://127.0.0.1:{tls.port}", generic_options=fu.GRPC_OPTIONS)
    assert fu.call_status(lambda: list(c3.list_actions(fu.opts(10))))[0] == "UNAVAILABLE"
    assert tls.alive()
    # ...and a good client still works.
    assert len(list(client(tls, certs).list_actions(fu.opts()))) == 3


def test_tls_connection_churn(tls, certs, app):
    """200 TLS connections opened, used and closed (GOAWAY after TLS termination) leave the server up."""
    ca = (certs / "ca.pem").read_bytes()
    for i in range(200):
        c = flight.FlightClient(tls_uri(tls), tls_root_certs=ca)
        if i % 10 == 0:
            fu.put_opaque(c, f"{app}/churn/o{i}", b"x" * 100)
        else:
            list(c.list_actions(fu.opts()))
        c.close()
    assert tls.alive()
    assert len(list(client(tls, certs).list_flights(f"{app}/churn".encode(), fu.opts()))) == 20


def _configure_flamepy_tls(endpoint: str, ca_file: Path):
    """Point flamepy at a TLS endpoint with FLAME_CA_FILE (flamepy caches its context and clients)."""
    import flamepy.core.cache as fc

    from conftest import forget_flamepy_client_state

    os.environ["FLAME_CACHE_ENDPOINT"] = endpoint
    os.environ["FLAME_CA_FILE"] = str(ca_file)
    os.environ.pop("FLAME_CACHE_STORAGE", None)
    fc._context_cache = None  # the same private reset conftest.configure_flamepy does
    forget_flamepy_client_state()
    ctx = fc._get_cached_context()
    assert ctx.cache.endpoint == endpoint
    assert ctx.cache.tls is not None and ctx.cache.tls.ca_file == str(ca_file)


@pytest.fixture
def flamepy_env():
    saved = {k: os.environ.get(k) for k in ("FLAME_CACHE_ENDPOINT", "FLAME_CA_FILE")}
    yield
    import flamepy.core.cache as fc

    from conftest import forget_flamepy_client_state

    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    fc._context_cache = None
    forget_flamepy_client_state()


def test_tls_flamepy_with_ca_file(tls, certs, app, flamepy_env):
    from flamepy.core import get_object, patch_object, put_object, update_object

    _configure_flamepy_tls(f"grpcs://127.0.0.1:{tls.port}", certs / "ca.pem")
    value = {"tls": True, "blob": os.urandom(100_000)}
    ref = put_object(f"{app}/tls", value)
    assert ref.endpoint == tls_uri(tls)
    assert get_object(ref) == value
    ref2 = update_object(ref, {"v": 2})
    assert ref2.version == 2
    patch_object(ref2, {"delta": 1})
    # get_object on a patched object needs a deserializer; the raw reply is checked instead.
    rows = fu.get_raw(client(tls, certs), ref.key).rows
    assert [(v, k) for v, k, _ in rows] == [(2, "base"), (3, "patch")]


def test_tls_flamepy_without_ca_file_fails(tls, app, flamepy_env):
    from flamepy.core import put_object

    import flamepy.core.cache as fc
    from conftest import forget_flamepy_client_state

    os.environ["FLAME_CACHE_ENDPOINT"] = f"grpcs://127.0.0.1:{tls.port}"
    os.environ.pop("FLAME_CA_FILE", None)
    fc._context_cache = None
    forget_flamepy_client_state()
    with pytest.raises(Exception) as ei:
        put_object(f"{app}/tls", 1)
    assert fu.grpc_code(ei.value) == "UNAVAILABLE", ei.value


# ---------------------------------------------------------------------------------------------- mutual TLS


def test_mtls_client_certificate_accepted(mtls, certs, app):
    c = client(mtls, certs, cert="client")
    ref = roundtrip(c, f"{app}/m/o1", fu.make_payload(100_000, seed=3))
    assert ref["endpoint"] == tls_uri(mtls)
    c.close()


@pytest.mark.parametrize("cert", [None, "rogue"], ids=["no-client-cert", "cert-from-another-ca"])
def test_mtls_client_without_a_valid_certificate_is_refused(mtls, certs, app, cert):
    c = client(mtls, certs, cert=cert)
    status, exc = fu.call_status(lambda: fu.put_opaque(c, f"{app}/m/x", b"nope", timeout=10))
    assert status == "UNAVAILABLE", fu.short(exc, 400)
    assert mtls.alive()
    # Nothing was stored and good clients are still served.
    good = client(mtls, certs, cert="client")
    assert list(good.list_flights(f"{app}/m/x".encode(), fu.opts())) == []


def test_mtls_flamepy_cannot_connect(mtls, certs, app, flamepy_env):
    """flamepy 0.6.0 has no client-certificate option: against mutual TLS it fails to connect (documented)."""
    from flamepy.core import put_object

    _configure_flamepy_tls(f"grpcs://127.0.0.1:{mtls.port}", certs / "ca.pem")
    with pytest.raises(Exception) as ei:
        put_object(f"{app}/m", {"x": 1})
    assert fu.grpc_code(ei.value) == "UNAVAILABLE", ei.value
    assert mtls.alive()
    assert "no certificates" in mtls.log_tail(200) or "certificate" in mtls.log_tail(200).lower()
