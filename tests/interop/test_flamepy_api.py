"""flamepy 0.6.0 public cache API against the server, used the way Flame workers use it.

Public API: flamepy.core.{put_object,get_object,update_object,patch_object,upload_object,
download_object,ObjectRef} and flamepy.cache.delete_objects (delete_objects is not re-exported by
flamepy.core / flamepy).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa
import pytest
from flamepy.cache import delete_objects
from flamepy.core import (
    ObjectRef,
    download_object,
    get_object,
    patch_object,
    put_object,
    update_object,
    upload_object,
)

import flight_util as fu

MiB = 1024 * 1024


def _assert_fresh_ref(ref, server, prefix):
    assert isinstance(ref, ObjectRef)
    assert ref.endpoint == server.endpoint
    app_, ssn, oid = ref.key.split("/")
    assert f"{app_}/{ssn}" == prefix
    assert fu.is_uuid4(oid), f"object id {oid!r} is not a lowercase hyphenated UUIDv4"
    assert ref.version == 1 and isinstance(ref.version, int)  # bson.int64.Int64 for an int64 field


def test_put_get_returns_objectref(flame, app):
    prefix = f"{app}/session-1"
    value = {"a": 1, "b": [1, 2, 3], "s": "héllo", "bytes": b"\x00\xff"}
    ref = put_object(prefix, value)
    _assert_fresh_ref(ref, flame, prefix)
    assert get_object(ref) == value
    # a second put to the same prefix gets a new id, version 1 again
    ref2 = put_object(prefix, value)
    _assert_fresh_ref(ref2, flame, prefix)
    assert ref2.key != ref.key


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        "",
        "x" * 10_000,
        b"raw-bytes",
        [1, "two", 3.0, None],
        {"nested": {"k": (1, 2)}},
        np.arange(1000, dtype=np.float64).reshape(10, 100),  # FLM\x01 tensor path
        np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
        pa.array([1, None, 3], type=pa.int64()),  # FLM\x03 path
    ],
    ids=["none", "zero", "empty-str", "long-str", "bytes", "list", "dict", "ndarray", "ndarray-F", "pa.array"],
)
def test_opaque_value_roundtrip(flame, app, value):
    ref = put_object(f"{app}/s", value)
    got = get_object(ref)
    if isinstance(value, np.ndarray):
        np.testing.assert_array_equal(got, value)
        assert got.dtype == value.dtype
    elif isinstance(value, pa.Array):
        assert got.equals(value)
    else:
        assert got == value


def test_update_object(flame, app):
    ref = put_object(f"{app}/s", "v1")
    assert get_object(ref) == "v1"
    ref2 = update_object(ref, "v2")
    assert ref2.key == ref.key
    assert ref2.endpoint == ref.endpoint == flame.endpoint
    assert ref2.version == 2
    assert get_object(ref2) == "v2"
    # the old ref (version 1) reads the current object too: refs are not snapshots
    assert get_object(ref) == "v2"
    ref3 = update_object(ref2, {"v": 3})
    assert ref3.version == 3
    assert get_object(ref3) == {"v": 3}


def _concat(base, patches):
    out = list(base)
    for p in patches:
        out.extend(p)
    return out


def test_patch_object_and_deserializer(flame, app):
    ref = put_object(f"{app}/s", [1, 2])
    r2 = patch_object(ref, [3])
    assert (r2.key, r2.endpoint, r2.version) == (ref.key, flame.endpoint, 2)
    r3 = patch_object(r2, [4, 5])
    assert r3.version == 3
    # without deserializer: base only (flamepy's backward-compatible behaviour)
    assert get_object(r3) == [1, 2]
    assert get_object(r3, deserializer=_concat) == [1, 2, 3, 4, 5]
    # update clears the patches; patch after update continues the version sequence
    r4 = update_object(r3, [9])
    assert r4.version == 4
    assert get_object(r4, deserializer=_concat) == [9]
    r5 = patch_object(r4, [10])
    assert r5.version == 5
    assert get_object(r5, deserializer=_concat) == [9, 10]


def test_patch_missing_object_is_not_found(flame, app):
    ref = ObjectRef(endpoint=flame.endpoint, key=f"{app}/s/does-not-exist", version=1)
    with pytest.raises((ValueError, pa.ArrowKeyError)) as ei:
        patch_object(ref, [1])
    assert fu.grpc_code(ei.value) == "NOT_FOUND", ei.value


def test_get_missing_object_raises_keyerror(flame, app):
    ref = ObjectRef(endpoint=flame.endpoint, key=f"{app}/s/does-not-exist", version=0)
    # flamepy does not wrap do_get errors: NOT_FOUND surfaces as pyarrow's ArrowKeyError
    with pytest.raises(pa.ArrowKeyError) as ei:
        get_object(ref)
    assert fu.grpc_code(ei.value) == "NOT_FOUND"


def test_delete_exact_key(flame, app):
    r1 = put_object(f"{app}/s", "one")
    r2 = put_object(f"{app}/s", "two")
    assert get_object(r1) == "one"
    assert delete_objects(r1.key) is None
    with pytest.raises(pa.ArrowKeyError):
        get_object(r1)
    assert get_object(r2) == "two"
    # re-put of a deleted key (update of the old ref): the Rust server restarts at version 1
    # (ref §3.3); flame-cache keeps versions monotonic per key (see test_client_cache.py::
    # test_delete_then_reput_is_not_served_stale for why). Both are valid for flamepy.
    r1b = update_object(r1, "again")
    assert r1b.version >= 1 and r1b.key == r1.key
    assert get_object(r1b) == "again"


def test_delete_session_prefix(flame, app):
    a = [put_object(f"{app}/s1", i) for i in range(3)]
    b = [put_object(f"{app}/s2", i) for i in range(3)]
    c = put_object(f"{app}/s10", "prefix-lookalike")  # "s1" must not match "s10"
    for r in a:
        get_object(r)
    delete_objects(f"{app}/s1")
    for r in a:
        with pytest.raises(pa.ArrowKeyError):
            get_object(r)
    assert [get_object(r) for r in b] == [0, 1, 2]
    assert get_object(c) == "prefix-lookalike"


def test_delete_app_wildcard(flame, app):
    other = f"{app}x"  # "<app>x/..." must not match "<app>/*"
    refs = [put_object(f"{app}/s{i}", i) for i in range(4)]
    keep = put_object(f"{other}/s0", "keep")
    delete_objects(f"{app}/*")
    for r in refs:
        with pytest.raises(pa.ArrowKeyError):
            get_object(r)
    assert get_object(keep) == "keep"
    delete_objects(f"{other}/*")


def test_delete_nothing_is_ok(flame, app):
    delete_objects(f"{app}/nothing-here")
    delete_objects(f"{app}/nothing-here/abc")
    delete_objects(f"{app}/*")


def test_client_side_key_validation(flame, app):
    """flamepy rejects these before any RPC (documenting the client contract)."""
    for bad in ["session123", f"{app}", f"{app}/a/b/c", f"*/s", f"{app}/", f"{app}/.."]:
        with pytest.raises(ValueError):
            put_object(bad, 1)
    with pytest.raises(ValueError):
        get_object(ObjectRef(endpoint=flame.endpoint, key=f"{app}/s", version=0))
    with pytest.raises(ValueError):
        upload_object(f"{app}/*", __file__)


# ------------------------------------------------------------------------------------------
# upload_object / download_object (RFE429): files as opaque objects sent in 1 MiB rows
# ------------------------------------------------------------------------------------------


def _write(path, data: bytes):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize("size", [1, MiB - 1, MiB, MiB + 1, int(3.5 * MiB)], ids=["1B", "1MiB-1", "1MiB", "1MiB+1", "3.5MiB"])
def test_upload_object_roundtrip_raw(flame, app, tmp_path, size):
    data = fu.make_payload(size, seed=size)
    ref = upload_object(f"{app}/pkg", _write(tmp_path / "f.bin", data))
    _assert_fresh_ref(ref, flame, f"{app}/pkg")
    # the server concatenated ceil(size / 1 MiB) rows into ONE base row (ref §4.7)
    reply = fu.get_raw(flame.client, f"{ref.key}:0")
    assert reply.rows == [(1, "base", data)]
    assert len(reply.batches) == 1


@pytest.mark.large
def test_upload_object_64mib(flame, app, tmp_path):
    data = fu.make_payload(64 * MiB, seed=64)
    key = f"{app}/pkg/{app}-1.0.0.tar.gz"  # full key keeps the caller's id
    ref = upload_object(key, _write(tmp_path / "pkg.tar.gz", data))
    assert (ref.key, ref.version, ref.endpoint) == (key, 1, flame.endpoint)
    reply = fu.get_raw(flame.client, f"{key}:0", timeout=fu.BIG_CALL_TIMEOUT)
    assert [(v, k) for v, k, _ in reply.rows] == [(1, "base")]
    assert hashlib.sha256(reply.base_data).digest() == hashlib.sha256(data).digest()
    # re-upload to the same full key replaces it: version 2
    ref2 = upload_object(key, _write(tmp_path / "pkg2.tar.gz", data[: 2 * MiB]))
    assert ref2.version == 2
    assert fu.get_raw(flame.client, f"{key}:0").base_data == data[: 2 * MiB]


def test_upload_object_then_get_object(flame, app, tmp_path):
    """An uploaded file is an ordinary opaque object: get_object decodes it with the flamepy rules
    (raw bytes without a FLM tag -> cloudpickle.loads), so a pickled file round-trips."""
    import cloudpickle

    data = cloudpickle.dumps({"file": "payload"})
    ref = upload_object(f"{app}/pkg", _write(tmp_path / "p.pkl", data))
    assert get_object(ref) == {"file": "payload"}


def test_upload_empty_file_is_rejected(flame, app, tmp_path):
    """0-byte file: flamepy sends the schema and no batch; the server answers INVALID_ARGUMENT
    ("No data received", ref §2.9/§4.7). flamepy wraps errors in ValueError("Failed to upload
    file ..."), but its `finally: writer.close()` re-raises the server status, so what escapes is
    the raw pyarrow exception (ArrowInvalid) - both are accepted; the status must be right."""
    path = _write(tmp_path / "empty.bin", b"")
    with pytest.raises((ValueError, pa.ArrowInvalid)) as ei:
        upload_object(f"{app}/pkg", path)
    assert fu.grpc_code(ei.value) == "INVALID_ARGUMENT", ei.value
    with pytest.raises(FileNotFoundError):
        upload_object(f"{app}/pkg", str(tmp_path / "missing.bin"))


@pytest.mark.parametrize("size", [1, int(3.5 * MiB)], ids=["1B", "3.5MiB"])
def test_download_object_is_broken_in_flamepy_060(flame, app, tmp_path, size):
    """flamepy 0.6.0 download_object cannot work against a real pyarrow Flight stream.

    It does `for batch in reader: batch.column("data")`, but iterating a pyarrow
    FlightStreamReader yields FlightStreamChunk objects (fields .data / .app_metadata), which
    have no .column -> AttributeError, caught and re-raised as ValueError("Failed to download
    file from cache server: ... 'FlightStreamChunk' object has no attribute 'column'"), and the
    destination file is removed (ref §6.1, §9.9). The message proves the server accepted the
    ticket and started streaming (a server error would surface as a different message, or as a
    raw pyarrow error from do_get). The same download done correctly with raw pyarrow is
    test_upload_object_roundtrip_raw / test_download_via_raw_pyarrow below.
    """
    data = fu.make_payload(size, seed=7)
    ref = upload_object(f"{app}/pkg", _write(tmp_path / "f.bin", data))
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(ValueError, match="FlightStreamChunk' object has no attribute 'column'"):
        download_object(ref, str(dest))
    assert not dest.exists()


def test_download_object_missing_key(flame, app, tmp_path):
    ref = ObjectRef(endpoint=flame.endpoint, key=f"{app}/pkg/missing.tar.gz", version=1)
    with pytest.raises((pa.ArrowKeyError, ValueError)) as ei:
        download_object(ref, str(tmp_path / "x"))
    assert fu.grpc_code(ei.value) == "NOT_FOUND"


def test_download_via_raw_pyarrow(flame, app, tmp_path):
    """What a working download does (flame-rs / executor-manager downloader, ref §6.2-6.3):
    do_get "<key>:0", write the data of every base row."""
    data = fu.make_payload(int(2.5 * MiB) + 17, seed=3)
    ref = upload_object(f"{app}/pkg/app.tar.gz", _write(tmp_path / "in.tar.gz", data))
    reply = fu.get_raw(flame.client, f"{ref.key}:0")
    fu.assert_read_schema(reply.schema)
    out = tmp_path / "out.tar.gz"
    with open(out, "wb") as f:
        for version, kind, chunk in reply.rows:
            assert kind == "base" and version == ref.version
            f.write(chunk)
    assert out.read_bytes() == data
    assert os.path.getsize(out) == len(data)
