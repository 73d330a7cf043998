"""Raw pyarrow.flight helpers for the interop suite (independent of flamepy).

Everything here follows shared/reference/flame-protocol.md (cited as "ref §x").
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import bson
import pyarrow as pa
import pyarrow.flight as flight

# Upload schema as flamepy sends it (nullable, no metadata), ref §2.1.
OPAQUE_SCHEMA = pa.schema([pa.field("version", pa.uint64()), pa.field("data", pa.binary())])
# Upload schema as flame-rs sends it (non-nullable), ref §2.1.
OPAQUE_SCHEMA_RS = pa.schema(
    [pa.field("version", pa.uint64(), nullable=False), pa.field("data", pa.binary(), nullable=False)]
)
# Read (response) schema, ref §2.1: exactly these names/types, non-nullable, no metadata.
READ_SCHEMA = pa.schema(
    [
        pa.field("version", pa.uint64(), nullable=False),
        pa.field("kind", pa.utf8(), nullable=False),
        pa.field("data", pa.binary(), nullable=False),
    ]
)



def assert_read_schema(schema: pa.Schema) -> None:
    """version UInt64 / kind Utf8 / data Binary, all non-nullable, no schema metadata (ref §2.1)."""
    got = [(f.name, str(f.type), f.nullable) for f in schema]
    assert got == [("version", "uint64", False), ("kind", "string", False), ("data", "binary", False)], got
    assert not schema.metadata, f"read schema must carry no metadata, got {schema.metadata}"


GRPC_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]

# Default deadline for raw calls: every test stays bounded even if the server hangs.
CALL_TIMEOUT = 60.0
BIG_CALL_TIMEOUT = 180.0

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def opts(timeout: float = CALL_TIMEOUT) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(timeout=timeout)


def new_client(uri: str) -> flight.FlightClient:
    return flight.FlightClient(uri, generic_options=GRPC_OPTIONS)


def uid(n: int = 12) -> str:
    return uuid.uuid4().hex[:n]


def is_uuid4(s: str) -> bool:
    return bool(UUID4_RE.match(s)) and str(uuid.UUID(s)) == s


# ---------------------------------------------------------------------------------------------
# gRPC status <-> pyarrow exception mapping.
#
# Measured with pyarrow 26.0.1 against a grpcio server that aborts with each code (see
# test_raw_flight.py::test_pyarrow_status_mapping_is_what_we_assume for the parts we rely on):
#   NOT_FOUND           -> pa.ArrowKeyError (subclass of KeyError)   "Flight returned not found error"
#   INVALID_ARGUMENT    -> pa.ArrowInvalid (ValueError)              "Flight returned invalid argument error"
#   RESOURCE_EXHAUSTED  -> pa.ArrowInvalid                           "gRPC returned resource exhausted error"
#   FAILED_PRECONDITION -> pa.ArrowInvalid                           "gRPC returned precondition failed error"
#   INTERNAL            -> flight.FlightInternalError                "Flight returned internal error"
#   UNIMPLEMENTED       -> pa.ArrowNotImplementedError               "Flight returned unimplemented error"
#   UNAVAILABLE         -> flight.FlightUnavailableError             "Flight returned unavailable error"
#   ALREADY_EXISTS      -> pa.ArrowException                         "Flight returned already exists error"
#   UNKNOWN             -> flight.FlightServerError                  "Flight RPC failed with message"
#   PERMISSION_DENIED   -> flight.FlightUnauthorizedError            "Flight returned unauthorized error"
#   UNAUTHENTICATED     -> flight.FlightUnauthenticatedError         "Flight returned unauthenticated error"
# ArrowInvalid is shared by 3 codes, so the code is recovered from the message text.
# ---------------------------------------------------------------------------------------------

_MSG_CODES = [
    ("returned not found error", "NOT_FOUND"),
    ("returned invalid argument error", "INVALID_ARGUMENT"),
    ("returned resource exhausted error", "RESOURCE_EXHAUSTED"),
    ("returned precondition failed error", "FAILED_PRECONDITION"),
    ("returned internal error", "INTERNAL"),
    ("returned unimplemented error", "UNIMPLEMENTED"),
    ("returned unavailable error", "UNAVAILABLE"),
    ("returned already exists error", "ALREADY_EXISTS"),
    ("returned unauthorized error", "PERMISSION_DENIED"),
    ("returned unauthenticated error", "UNAUTHENTICATED"),
    ("returned timeout error", "DEADLINE_EXCEEDED"),
    ("deadline exceeded", "DEADLINE_EXCEEDED"),
    ("returned cancelled error", "CANCELLED"),
    ("returned data loss error", "DATA_LOSS"),
    ("returned aborted error", "ABORTED"),
    ("returned out of range error", "OUT_OF_RANGE"),
    ("flight rpc failed with message", "UNKNOWN"),
]

EXC_FOR_CODE = {
    "NOT_FOUND": pa.ArrowKeyError,
    "INVALID_ARGUMENT": pa.ArrowInvalid,
    "RESOURCE_EXHAUSTED": pa.ArrowInvalid,
    "FAILED_PRECONDITION": pa.ArrowInvalid,
    "INTERNAL": flight.FlightInternalError,
    "UNIMPLEMENTED": pa.ArrowNotImplementedError,
    "UNAVAILABLE": flight.FlightUnavailableError,
    "UNKNOWN": flight.FlightServerError,
    "PERMISSION_DENIED": flight.FlightUnauthorizedError,
    "UNAUTHENTICATED": flight.FlightUnauthenticatedError,
}


def grpc_code(exc: BaseException) -> str:
    """Best-effort gRPC status name of a pyarrow (or flamepy-wrapped) exception."""
    text = str(exc).lower()
    for needle, code in _MSG_CODES:
        if needle in text:
            return code
    m = re.search(r"(?i:grpc client debug context): ([A-Z_]+):", str(exc))
    if m:
        return m.group(1)
    if isinstance(exc, pa.ArrowInvalid):
        return "INVALID_ARGUMENT"
    if isinstance(exc, pa.ArrowKeyError):
        return "NOT_FOUND"
    if isinstance(exc, flight.FlightInternalError):
        return "INTERNAL"
    if isinstance(exc, pa.ArrowNotImplementedError):
        return "UNIMPLEMENTED"
    if isinstance(exc, flight.FlightUnavailableError):
        return "UNAVAILABLE"
    if isinstance(exc, flight.FlightTimedOutError):
        return "DEADLINE_EXCEEDED"
    return f"?{type(exc).__name__}"


def short(x, n: int = 160) -> str:
    r = repr(x)
    return r if len(r) <= n else r[: n // 2] + f"...<{len(r) - n} chars>..." + r[-n // 2 :]


def call_status(fn, *args, **kwargs) -> Tuple[str, object]:
    """Run fn; return ("OK", result) or (grpc code, exception)."""
    try:
        return "OK", fn(*args, **kwargs)
    except (pa.ArrowException, flight.FlightError, KeyError, ValueError, OSError) as e:  # noqa: PERF203
        return grpc_code(e), e


def assert_status(code: str, fn, *args, **kwargs) -> BaseException:
    """Assert fn fails with gRPC `code`, raised as pyarrow's exception class for that code."""
    status, exc = call_status(fn, *args, **kwargs)
    assert status == code, f"expected {code}, got {status}: {short(exc, 600)}"
    want = EXC_FOR_CODE.get(code)
    if want is not None:
        assert isinstance(exc, want), f"{code} should surface as {want.__name__}, got {type(exc).__name__}: {exc}"
    return exc  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# DoPut
# ---------------------------------------------------------------------------------------------


@dataclass
class PutReply:
    metadata: List[bytes]  # raw app_metadata of every PutResult received

    @property
    def ref(self) -> dict:
        assert len(self.metadata) >= 1, "no PutResult received"
        return bson.decode(self.metadata[0])


def opaque_batch(chunks: Sequence[bytes], schema: pa.Schema = OPAQUE_SCHEMA, version: int = 0) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([version] * len(chunks), type=pa.uint64()), pa.array(list(chunks), type=pa.binary())],
        schema=schema,
    )


def put_batches(
    client: flight.FlightClient,
    descriptor: flight.FlightDescriptor,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    timeout: float = CALL_TIMEOUT,
) -> PutReply:
    writer, reader = client.do_put(descriptor, schema, opts(timeout))
    metadata: List[bytes] = []
    try:
        for b in batches:
            writer.write_batch(b)
        writer.done_writing()
        while True:
            buf = reader.read()
            if buf is None:
                break
            metadata.append(bytes(buf))
    finally:
        writer.close()
    return PutReply(metadata)


def put_opaque(
    client: flight.FlightClient,
    path_or_key: str,
    data: Union[bytes, Sequence[bytes]],
    *,
    rows_per_batch: Optional[int] = None,
    schema: pa.Schema = OPAQUE_SCHEMA,
    timeout: float = CALL_TIMEOUT,
) -> PutReply:
    """DoPut with PATH [path_or_key]. bytes -> one row; list -> one row per element."""
    chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)
    if rows_per_batch is None:
        batches = [opaque_batch(chunks, schema)]
    else:
        batches = [opaque_batch(chunks[i : i + rows_per_batch], schema) for i in range(0, len(chunks), rows_per_batch)]
    return put_batches(client, flight.FlightDescriptor.for_path(path_or_key), schema, batches, timeout)


def patch_opaque(client: flight.FlightClient, key: str, data: bytes, timeout: float = CALL_TIMEOUT) -> PutReply:
    """DoPut with CMD b"PATCH:<key>" (how flamepy/flame-rs patch, ref §2.2)."""
    desc = flight.FlightDescriptor.for_command(f"PATCH:{key}".encode())
    return put_batches(client, desc, OPAQUE_SCHEMA, [opaque_batch([data])], timeout)


# ---------------------------------------------------------------------------------------------
# DoGet
# ---------------------------------------------------------------------------------------------


@dataclass
class GetReply:
    schema: pa.Schema
    batches: List[pa.RecordBatch]

    @property
    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=self.schema)

    @property
    def rows(self) -> List[Tuple[int, str, bytes]]:
        t = self.table
        if "kind" in t.column_names:
            kinds = t.column("kind").to_pylist()
        else:
            kinds = ["base"] + ["patch"] * (t.num_rows - 1)
        return list(zip(t.column("version").to_pylist(), kinds, t.column("data").to_pylist()))

    @property
    def base_data(self) -> bytes:
        return b"".join(d for _, k, d in self.rows if k == "base")


def get_raw(client: flight.FlightClient, ticket: Union[str, bytes], timeout: float = CALL_TIMEOUT) -> GetReply:
    t = ticket.encode() if isinstance(ticket, str) else ticket
    reader = client.do_get(flight.Ticket(t), opts(timeout))
    batches = []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        if chunk.data is not None:
            batches.append(chunk.data)
    return GetReply(reader.schema, batches)


# ---------------------------------------------------------------------------------------------
# DoAction
# ---------------------------------------------------------------------------------------------


def action(client: flight.FlightClient, type_: str, body: Union[str, bytes], timeout: float = CALL_TIMEOUT) -> List[bytes]:
    b = body.encode() if isinstance(body, str) else body
    return [r.body.to_pybytes() for r in client.do_action(flight.Action(type_, b), opts(timeout))]


def delete(client: flight.FlightClient, key_or_prefix: str) -> List[bytes]:
    return action(client, "DELETE", key_or_prefix)


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def make_payload(n: int, seed: int = 0) -> bytes:
    """n bytes, cheap to build, with no period that could hide an offset bug.

    A random 64 KiB block is repeated, and every block starts with its own index and the seed.
    """
    import random

    if n == 0:
        return b""
    rnd = random.Random(seed)
    block_size = 64 * 1024
    base = bytearray(rnd.randbytes(block_size))
    out = bytearray(n)
    for i, off in enumerate(range(0, n, block_size)):
        base[0:16] = i.to_bytes(8, "little") + seed.to_bytes(8, "little", signed=False)
        end = min(off + block_size, n)
        out[off:end] = base[: end - off]
    return bytes(out)
