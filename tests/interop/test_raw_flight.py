"""Every Flight RPC with raw pyarrow.flight (no flamepy), checked against
shared/reference/flame-protocol.md §2 (cited as "ref §x")."""

from __future__ import annotations

import struct

import bson
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flight_util as fu


def _bson_elements(doc: bytes):
    """[(name, bson type byte)] of a top-level BSON document, in wire order."""
    (length,) = struct.unpack_from("<i", doc, 0)
    assert length == len(doc), "BSON length prefix must cover the whole app_metadata"
    assert doc[-1] == 0
    out, i = [], 4
    sizes = {0x01: 8, 0x08: 1, 0x09: 8, 0x10: 4, 0x11: 8, 0x12: 8, 0x0A: 0}
    while doc[i] != 0:
        t = doc[i]
        j = doc.index(b"\x00", i + 1)
        name = doc[i + 1 : j].decode()
        i = j + 1
        if t == 0x02:  # string: int32 len (incl. NUL) + bytes
            (n,) = struct.unpack_from("<i", doc, i)
            i += 4 + n
        elif t in sizes:
            i += sizes[t]
        else:
            raise AssertionError(f"unexpected BSON type 0x{t:02x} for field {name!r}")
        out.append((name, t))
    return out


# ---------------------------------------------------------------------------------------------
# DoPut
# ---------------------------------------------------------------------------------------------


def test_doput_prefix_objectref_bson(server, app):
    reply = fu.put_opaque(server.client, f"{app}/s", b"hello")
    assert len(reply.metadata) == 1, "exactly one PutResult (ref §2.2 step 6)"
    raw = reply.metadata[0]
    # {endpoint: string, key: string, version: int64}, in this order, nothing else (ref §2.1)
    assert _bson_elements(raw) == [("endpoint", 0x02), ("key", 0x02), ("version", 0x12)]
    ref = bson.decode(raw)
    assert ref["endpoint"] == server.endpoint
    a, s, oid = ref["key"].split("/")
    assert (a, s) == (app, "s") and fu.is_uuid4(oid)
    assert ref["version"] == 1


def test_doput_full_key_and_versions(server, app):
    key = f"{app}/s/my-object.v1"
    assert fu.put_opaque(server.client, key, b"1").ref == {"endpoint": server.endpoint, "key": key, "version": 1}
    assert fu.put_opaque(server.client, key, b"2").ref["version"] == 2
    assert fu.patch_opaque(server.client, key, b"p3").ref == {"endpoint": server.endpoint, "key": key, "version": 3}
    assert fu.put_opaque(server.client, key, b"4").ref["version"] == 4
    r = fu.get_raw(server.client, f"{key}:0")
    assert r.rows == [(4, "base", b"4")]  # update cleared the patch


def test_doput_rust_sdk_schema_and_multi_batches(server, app):
    """flame-rs sends non-nullable fields; uploads come as several batches of 1 MiB rows.
    All rows of all batches are concatenated (ref §2.1 batch_to_object)."""
    chunks = [bytes([i]) * 1000 for i in range(7)]
    reply = fu.put_opaque(server.client, f"{app}/s", chunks, rows_per_batch=3, schema=fu.OPAQUE_SCHEMA_RS)
    r = fu.get_raw(server.client, f"{reply.ref['key']}:0")
    assert r.rows == [(1, "base", b"".join(chunks))]


def test_doput_client_version_column_is_ignored(server, app):
    batch = fu.opaque_batch([b"x"], version=12345)
    reply = fu.put_batches(server.client, flight.FlightDescriptor.for_path(f"{app}/s"), fu.OPAQUE_SCHEMA, [batch])
    assert reply.ref["version"] == 1


def test_doput_patch_cmd(server, app):
    key = fu.put_opaque(server.client, f"{app}/s", b"base").ref["key"]
    assert fu.patch_opaque(server.client, key, b"d1").ref["version"] == 2
    assert fu.patch_opaque(server.client, key, b"d2").ref["version"] == 3
    r = fu.get_raw(server.client, f"{key}:0")
    assert r.rows == [(1, "base", b"base"), (2, "patch", b"d1"), (3, "patch", b"d2")]
    # one row per record batch (ref §2.3 "Rows per reply")
    assert [b.num_rows for b in r.batches] == [1, 1, 1]


def test_doput_patch_errors(server, app):
    fu.assert_status("NOT_FOUND", fu.patch_opaque, server.client, f"{app}/s/missing", b"d")
    fu.assert_status("INVALID_ARGUMENT", fu.patch_opaque, server.client, f"{app}/s", b"d")
    fu.assert_status("INVALID_ARGUMENT", fu.patch_opaque, server.client, f"{app}/*", b"d")
    fu.assert_status("INVALID_ARGUMENT", fu.patch_opaque, server.client, f"{app}/../x", b"d")


def test_doput_errors(server, app):
    # put to the wildcard prefix: INVALID_ARGUMENT (the Rust server says INTERNAL, ref §9.8)
    fu.assert_status("INVALID_ARGUMENT", fu.put_opaque, server.client, f"{app}/*", b"x")
    fu.assert_status("INVALID_ARGUMENT", fu.put_opaque, server.client, f"{app}/s/a/b", b"x")
    fu.assert_status("INVALID_ARGUMENT", fu.put_opaque, server.client, f"{app}//x", b"x")
    fu.assert_status("INVALID_ARGUMENT", fu.put_opaque, server.client, f"{app}/s/..", b"x")
    # no descriptor key at all
    fu.assert_status(
        "INVALID_ARGUMENT",
        fu.put_batches,
        server.client,
        flight.FlightDescriptor.for_command(b""),
        fu.OPAQUE_SCHEMA,
        [fu.opaque_batch([b"x"])],
    )


def test_doput_wrong_column_types(server, app):
    """Column 0 must be UInt64 and column 1 Binary (by position). Rust: INTERNAL "Invalid version
    column"; flame-cache may say INVALID_ARGUMENT. Either way a clean error."""
    bad = pa.schema([("version", pa.int64()), ("data", pa.string())])
    batch = pa.record_batch([pa.array([0], pa.int64()), pa.array(["x"])], schema=bad)
    st, exc = fu.call_status(fu.put_batches, server.client, flight.FlightDescriptor.for_path(f"{app}/s"), bad, [batch])
    assert st in ("INVALID_ARGUMENT", "INTERNAL"), exc
    one_col = pa.schema([("data", pa.binary())])
    st, exc = fu.call_status(
        fu.put_batches, server.client, flight.FlightDescriptor.for_path(f"{app}/s"), one_col, [pa.record_batch([pa.array([b"x"])], schema=one_col)]
    )
    assert st in ("INVALID_ARGUMENT", "INTERNAL"), exc


# ---------------------------------------------------------------------------------------------
# DoGet
# ---------------------------------------------------------------------------------------------


def test_doget_tickets(server, app):
    key = fu.put_opaque(server.client, f"{app}/s", b"B").ref["key"]
    fu.patch_opaque(server.client, key, b"P2")
    fu.patch_opaque(server.client, key, b"P3")
    full = [(1, "base", b"B"), (2, "patch", b"P2"), (3, "patch", b"P3")]
    for t in (key, f"{key}:0"):
        r = fu.get_raw(server.client, t)
        fu.assert_read_schema(r.schema)
        assert r.rows == full, t
    # current version: "not modified" = schema only, zero rows
    r = fu.get_raw(server.client, f"{key}:3")
    fu.assert_read_schema(r.schema)
    assert r.batches == [] or sum(b.num_rows for b in r.batches) == 0
    # older version: patch-only rows
    assert fu.get_raw(server.client, f"{key}:1").rows == full[1:]
    assert fu.get_raw(server.client, f"{key}:2").rows == full[2:]
    # ahead of the server: full reply
    assert fu.get_raw(server.client, f"{key}:4").rows == full


def test_doget_errors(server, app):
    key = fu.put_opaque(server.client, f"{app}/s", b"B").ref["key"]
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, f"{app}/s/missing:0")
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, f"{app}/s/missing")
    for bad in (f"{key}:abc", f"{key}:", f"{key}:-1", f"{key}:1.0", f"{key}:18446744073709551616", f"{key}: 1"):
        fu.assert_status("INVALID_ARGUMENT", fu.get_raw, server.client, bad)
    # 2-part keys are legacy "session/object" lookups (test_legacy_seed_forms.py): NOT_FOUND here
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, f"{app}/s:0")
    for bad in (f"{app}/s/x/y:0", f"{app}//x:0", f"{app}/s/..:0", ":0", ""):
        fu.assert_status("INVALID_ARGUMENT", fu.get_raw, server.client, bad)
    fu.assert_status("INVALID_ARGUMENT", fu.get_raw, server.client, b"\xff\xfe/s/x:0")


def test_doget_u64_max_version_is_valid(server, app):
    key = fu.put_opaque(server.client, f"{app}/s", b"B").ref["key"]
    assert fu.get_raw(server.client, f"{key}:{2**64 - 1}").rows == [(1, "base", b"B")]


# ---------------------------------------------------------------------------------------------
# DoAction / ListActions
# ---------------------------------------------------------------------------------------------


def test_doaction_delete(server, app):
    k1 = fu.put_opaque(server.client, f"{app}/s1", b"1").ref["key"]
    k2 = fu.put_opaque(server.client, f"{app}/s2", b"2").ref["key"]
    assert fu.delete(server.client, k1) == [b"OK"]
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, f"{k1}:0")
    assert fu.delete(server.client, f"{app}/s2") == [b"OK"]
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, f"{k2}:0")
    assert fu.delete(server.client, f"{app}/*") == [b"OK"]
    assert fu.delete(server.client, f"{app}/nothing/here") == [b"OK"]


def test_doaction_errors(server, app):
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "NOPE", b"x")
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "delete", f"{app}/s")  # case-sensitive
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "DELETE", b"\xff\xfe")
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "DELETE", f"{app}/s/x/y")
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "DELETE", f"{app}/*/x")
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "DELETE", f"*/s")
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "DELETE", "")


def test_list_actions(server):
    actions = {a.type: a.description for a in server.client.list_actions(fu.opts())}
    assert "DELETE" in actions
    assert actions["DELETE"]


# ---------------------------------------------------------------------------------------------
# GetFlightInfo / ListFlights / GetSchema
# ---------------------------------------------------------------------------------------------


def _check_info_endpoint(fi, server, key):
    assert len(fi.endpoints) == 1
    ep = fi.endpoints[0]
    assert ep.ticket.ticket == key.encode()
    assert [loc.uri.decode() if isinstance(loc.uri, bytes) else str(loc.uri) for loc in ep.locations] == [server.endpoint]


def test_get_flight_info_opaque(server, app):
    data = b"x" * 1000
    key = fu.put_opaque(server.client, f"{app}/s", data).ref["key"]
    fi = server.client.get_flight_info(flight.FlightDescriptor.for_path(key), fu.opts())
    _check_info_endpoint(fi, server, key)
    assert fi.descriptor.path == [key.encode()]
    assert fi.total_records >= 1
    assert fi.total_bytes >= len(data)
    schema = fi.schema  # must be decodable (the Rust server's un-prefixed encoding is not)
    assert schema is None or len(schema) == 0 or schema.names == ["version", "kind", "data"]
    # multi-element path = joined key (ref §2.4)
    a, s, o = key.split("/")
    fi2 = server.client.get_flight_info(flight.FlightDescriptor.for_path(a, s, o), fu.opts())
    _check_info_endpoint(fi2, server, key)


def test_get_flight_info_native(server, app):
    t = pa.table({"a": pa.array(range(10), pa.int32()), "b": [str(i) for i in range(10)]})
    meta = {b"flame.cache.format": b"arrow-table-v1", b"flame.cache.version": b"0", b"flame.cache.logical_type": b"pyarrow.table"}
    t = t.replace_schema_metadata(meta)
    reply = fu.put_batches(server.client, flight.FlightDescriptor.for_path(f"{app}/s"), t.schema, t.to_batches())
    key = reply.ref["key"]
    fi = server.client.get_flight_info(flight.FlightDescriptor.for_path(key), fu.opts())
    _check_info_endpoint(fi, server, key)
    assert fi.total_records == 10
    assert fi.total_bytes > 0
    assert fi.schema.names == ["a", "b"]
    assert fi.schema.metadata[b"flame.cache.format"] == b"arrow-table-v1"
    # and the stored version is the server's, not the client's "0"
    r = fu.get_raw(server.client, f"{key}:0")
    assert r.schema.metadata[b"flame.cache.version"] == b"1"


def test_get_flight_info_unknown_key_and_errors(server, app):
    """flamepy's local-storage put calls GetFlightInfo for keys the server has never seen and needs
    endpoints[0].locations[0] (ref §2.4, §6.5 item 6)."""
    key = f"{app}/s/never-stored"
    fi = server.client.get_flight_info(flight.FlightDescriptor.for_path(key), fu.opts())
    _check_info_endpoint(fi, server, key)
    fu.assert_status("INVALID_ARGUMENT", server.client.get_flight_info, flight.FlightDescriptor.for_command(b"x"), fu.opts())


def test_list_flights_prefix_criteria(server, app):
    sizes = {fu.put_opaque(server.client, f"{app}/s{i}", b"y" * (i + 1)).ref["key"]: i + 1 for i in range(3)}
    keys = set(sizes)
    other = fu.put_opaque(server.client, f"{app}x/s", b"z").ref["key"]
    infos = list(server.client.list_flights(f"{app}/".encode(), fu.opts()))
    got = {fi.endpoints[0].ticket.ticket.decode(): fi for fi in infos}
    assert set(got) == keys
    for k, fi in got.items():
        _check_info_endpoint(fi, server, k)
        assert fi.total_bytes == sizes[k]  # payload bytes (ref §2.5)
    everything = {fi.endpoints[0].ticket.ticket.decode() for fi in server.client.list_flights(b"", fu.opts())}
    assert keys | {other} <= everything
    assert {fi.endpoints[0].ticket.ticket.decode() for fi in server.client.list_flights(f"{app}/s1".encode(), fu.opts())} == {
        k for k in keys if k.startswith(f"{app}/s1/")
    }
    fu.delete(server.client, f"{app}x/*")


def test_get_schema(server, app):
    key = fu.put_opaque(server.client, f"{app}/s", b"q").ref["key"]
    res = server.client.get_schema(flight.FlightDescriptor.for_path(key), fu.opts())
    assert res.schema.names == ["version", "kind", "data"]
    assert [str(f.type) for f in res.schema] == ["uint64", "string", "binary"]


# ---------------------------------------------------------------------------------------------
# Handshake / DoExchange: not implemented
# ---------------------------------------------------------------------------------------------


def test_handshake(server):
    """Rust server: UNIMPLEMENTED "Handshake not implemented" (ref §2.8). flame-cache may implement
    Handshake for its optional auth; with auth off it must then not hand out a token that
    anything depends on. No flamepy / flame-rs call uses Handshake."""
    st, res = fu.call_status(server.client.authenticate_basic_token, "u", "p", fu.opts())
    if st == "OK":
        # pyarrow returns the (header, value) pair of the bearer token; auth off => nothing to send
        assert res in ((b"", b""), None), res
    else:
        assert st == "UNIMPLEMENTED", res
        assert isinstance(res, NotImplementedError)
    # calls keep working without any token
    assert "DELETE" in {a.type for a in server.client.list_actions(fu.opts())}


def test_do_exchange_unimplemented(server, app):
    def exchange():
        writer, reader = server.client.do_exchange(flight.FlightDescriptor.for_path(f"{app}/s"), fu.opts())
        try:
            writer.done_writing()
            reader.read_chunk()
        finally:
            writer.close()

    fu.assert_status("UNIMPLEMENTED", exchange)


# ---------------------------------------------------------------------------------------------
# pyarrow's status mapping (independent of the server): documents what the asserts above rely on
# ---------------------------------------------------------------------------------------------


def test_pyarrow_status_mapping_is_what_we_assume():
    import concurrent.futures as cf

    import grpc

    code = {}

    class Handler(grpc.GenericRpcHandler):
        def service(self, details):
            def stream(req, ctx):
                ctx.abort(code["c"], "boom")
                yield b""  # pragma: no cover

            return grpc.unary_stream_rpc_method_handler(stream)

    srv = grpc.server(cf.ThreadPoolExecutor(2))
    srv.add_generic_rpc_handlers([Handler()])
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    try:
        client = fu.new_client(f"grpc://127.0.0.1:{port}")
        for c in (
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.INTERNAL,
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.UNAVAILABLE,
        ):
            code["c"] = c
            st, exc = fu.call_status(fu.get_raw, client, b"t", 10)
            assert st == c.name, (c, exc)
            assert isinstance(exc, fu.EXC_FOR_CODE[c.name]), (c, type(exc))
        assert issubclass(pa.ArrowKeyError, KeyError) and issubclass(pa.ArrowInvalid, ValueError)
        client.close()
    finally:
        srv.stop(0)
