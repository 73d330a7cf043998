"""Servers with their own configuration: persistence across restarts, reading a data directory
written by Flame's Rust server (ZSTD IPC files, ref §4.2-4.4, §6.5 item 9), flamepy's
local-storage mode (ref §6.1), `--storage none`, and an explicit advertised `--endpoint`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from flamepy.core import ObjectRef, get_object, patch_object, put_object, update_object

import flight_util as fu
from conftest import CacheServer, configure_flamepy, forget_flamepy_client_state, free_port

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

RUST_OID = "6f1c2a4e-5b7d-4c8e-9f01-23456789abcd"
NATIVE_OID = "0a5e7f10-2b3c-4d5e-8f90-a1b2c3d4e5f6"
LOCAL_OID = "11111111-2222-4333-8444-555555555555"


def _cp(name, dest: Path):
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(VECTORS / name, dest)


@pytest.fixture(scope="module")
def restart_server():
    """Disk server over a directory pre-populated as the Rust server / flamepy leave it."""
    root = Path(tempfile.mkdtemp(prefix="flame-interop-rustdir-"))
    ssn = root / "rustapp" / "rustssn"
    _cp("opaque-zstd.arrow", ssn / f"{RUST_OID}.arrow")  # base v3
    _cp("opaque-delta-zstd.arrow", ssn / f"{RUST_OID}.deltas" / "0.arrow")  # delta v4
    _cp("opaque.arrow", ssn / "plain.arrow")  # uncompressed, v3
    _cp("native-zstd.arrow", ssn / f"{NATIVE_OID}.arrow")  # native, v2
    _cp("opaque-flamepy-local.arrow", root / "pyapp" / "pyssn" / f"{LOCAL_OID}.arrow")  # v0, nullable
    (root / "rustapp" / "rustssn" / "notes.txt").write_text("not an object")  # ignored
    s = CacheServer(str(root), name="restart").start()
    yield s
    s.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_reads_rust_server_data_dir(restart_server):
    s = restart_server
    key = f"rustapp/rustssn/{RUST_OID}"
    r = fu.get_raw(s.client, f"{key}:0")
    assert r.rows == [(3, "base", b"flame-cache opaque payload \x00\x01\x02\xff end"), (4, "patch", b"delta-4 \xfe\xff")]
    assert fu.get_raw(s.client, f"{key}:3").rows == [(4, "patch", b"delta-4 \xfe\xff")]
    assert fu.get_raw(s.client, f"{key}:4").rows == []
    assert fu.get_raw(s.client, "rustapp/rustssn/plain:0").rows[0][:2] == (3, "base")
    # versions continue from what is on disk
    assert fu.patch_opaque(s.client, key, b"d5").ref["version"] == 5
    assert fu.put_opaque(s.client, "rustapp/rustssn/plain", b"new").ref["version"] == 4

    native = fu.get_raw(s.client, f"rustapp/rustssn/{NATIVE_OID}:0")
    assert native.table.num_rows == 12
    assert native.schema.metadata[b"flame.cache.version"] == b"2"
    assert native.schema.metadata[b"owner"] == b"vectors"
    with pa.ipc.open_file(Path(__file__).resolve().parents[1] / "vectors" / "native.arrow") as f:
        assert native.table.equals(f.read_all())

    configure_flamepy(s.uri)
    got = get_object(ObjectRef(endpoint=s.endpoint, key=f"rustapp/rustssn/{NATIVE_OID}", version=2))
    assert isinstance(got, pa.Table) and got.num_rows == 12
    assert b"flame.cache.format" not in (got.schema.metadata or {})


def test_flamepy_local_storage_file_version_0(restart_server):
    """flamepy local-storage mode writes the file itself (version 0) and returns version=1
    (ref §6.1, §9.2). The server reports 0; flamepy's get with that ref still works."""
    s = restart_server
    configure_flamepy(s.uri)
    key = f"pyapp/pyssn/{LOCAL_OID}"
    assert fu.get_raw(s.client, f"{key}:0").rows[0][:2] == (0, "base")
    ref = ObjectRef(endpoint=s.endpoint, key=key, version=1)
    assert get_object(ref) == "hello from flamepy local storage"
    assert get_object(ref) == "hello from flamepy local storage"
    assert update_object(ref, "updated").version == 1  # 0 + 1 (ref §9.2)


def test_local_storage_put_object_with_shared_dir(restart_server, tmp_path):
    """flamepy local-storage put: writes {storage}/{app}/{ssn}/{uuid}.arrow then GetFlightInfo(PATH [key])
    to learn the endpoint; the server finds the file lazily (shared volume)."""
    import os

    import flamepy.core.cache as fc

    s = restart_server
    os.environ["FLAME_CACHE_ENDPOINT"] = s.uri
    os.environ["FLAME_CACHE_STORAGE"] = s.storage
    fc._context_cache = None
    try:
        ref = put_object("lsapp/lsssn", {"local": True})
        assert ref.endpoint == s.endpoint and ref.version == 1
        assert (Path(s.storage) / f"{ref.key}.arrow").exists()
        assert get_object(ref) == {"local": True}
        t = pa.table({"x": [1, 2, 3]})
        ref2 = put_object("lsapp/lsssn", t)
        assert get_object(ref2).equals(t)
    finally:
        os.environ.pop("FLAME_CACHE_STORAGE", None)
        fc._context_cache = None


def test_persistence_across_restart(restart_server):
    s = restart_server
    configure_flamepy(s.uri)
    ref = put_object("persist/s", [1])
    r2 = patch_object(ref, [2])
    t = pa.table({"a": [1, 2], "b": ["x", None]})
    tref = put_object("persist/s", t)
    big = fu.make_payload(3 * 1024 * 1024, seed=9)
    bref = put_object("persist/s2", big)
    gone = put_object("persist/s3", "deleted")
    fu.delete(s.client, gone.key)
    rust_before = fu.get_raw(s.client, f"rustapp/rustssn/{RUST_OID}:0").rows

    s.restart()
    forget_flamepy_client_state()
    configure_flamepy(s.uri)

    def concat(b, ps):
        return b + sum(ps, [])

    assert get_object(r2, deserializer=concat) == [1, 2]
    assert get_object(tref).equals(t)
    assert get_object(bref) == big
    with pytest.raises(pa.ArrowKeyError):
        get_object(gone)
    # versions survive the restart
    assert patch_object(r2, [3]).version == 3
    assert update_object(tref, t).version == 2
    assert fu.get_raw(s.client, f"rustapp/rustssn/{RUST_OID}:0").rows == rust_before


# ---------------------------------------------------------------------------------------------
# --storage none
# ---------------------------------------------------------------------------------------------


def test_none_storage_roundtrip_and_patch(none_server):
    """Memory-only storage: everything works, including patches (ref §1.3 RFE414 / bc3a462a)."""
    configure_flamepy(none_server.uri)
    ref = put_object("nonestore/s", [1])
    assert ref.endpoint == none_server.endpoint
    r2 = patch_object(ref, [2])
    assert r2.version == 2
    assert get_object(r2, deserializer=lambda b, ps: b + sum(ps, [])) == [1, 2]
    t = pa.table({"a": [1]})
    assert get_object(put_object("nonestore/s", t)).equals(t)


# ---------------------------------------------------------------------------------------------
# explicit advertised endpoint
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint_server():
    port = free_port()
    # advertise a different (but reachable) URI than the one clients are configured with
    s = CacheServer("none", endpoint=f"grpc://localhost:{port}", port=port, name="endpoint").start()
    yield s
    s.stop()


def test_advertised_endpoint_is_used(endpoint_server):
    """put/delete use the configured endpoint; get/update/patch use ref.endpoint (ref §6.1), which
    must be exactly the advertised --endpoint, in ObjectRef and FlightInfo alike."""
    s = endpoint_server
    assert s.endpoint != s.uri
    configure_flamepy(s.uri)
    ref = put_object("epapp/s", "v")
    assert ref.endpoint == s.endpoint
    assert get_object(ref) == "v"
    r2 = update_object(ref, "w")
    assert r2.endpoint == s.endpoint and get_object(r2) == "w"
    import pyarrow.flight as flight

    fi = s.client.get_flight_info(flight.FlightDescriptor.for_path(ref.key), fu.opts())
    assert fi.endpoints[0].locations[0].uri.decode() == s.endpoint
    listed = [f for f in s.client.list_flights(b"epapp/", fu.opts())]
    assert [f.endpoints[0].locations[0].uri.decode() for f in listed] == [s.endpoint]
