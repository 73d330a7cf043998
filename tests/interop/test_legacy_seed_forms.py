"""Older protocol forms from the seed README / FLIGHT0 era (ref §1.2), which flame-cache accepts
in addition to the current protocol (the Rust server at HEAD rejects them: 1-part paths and
2-part keys are INVALID_ARGUMENT there, and PUT/UPDATE actions are "Unknown action type").

  * DoPut PATH ["session"]              -> key "session/<uuid4>"
  * DoAction PUT    "<session>:<base64>" -> JSON object metadata
  * DoAction UPDATE "<key>:<base64>"     -> JSON object metadata
  * DoGet ticket "<key>" (no ":version") -> full reply
  * 2-part "session/object" keys for get / update / delete
No current client (flamepy 0.6.0, flame-rs 0.6.0) sends these.
"""

from __future__ import annotations

import base64
import json

import pytest

import flight_util as fu

pytestmark = pytest.mark.legacy


def _sess():
    return f"legacy{fu.uid(10)}"


def _meta(results):
    assert len(results) == 1, results
    m = json.loads(results[0])
    assert isinstance(m, dict)
    assert isinstance(m["key"], str)
    assert isinstance(m["version"], int) and m["version"] >= 0
    if "endpoint" in m:
        assert isinstance(m["endpoint"], str)
    return m


def test_one_segment_put_path(server):
    sess = _sess()
    reply = fu.put_opaque(server.client, sess, b"legacy-data")
    assert len(reply.metadata) == 1
    ref = reply.ref
    s, oid = ref["key"].split("/")
    assert s == sess and fu.is_uuid4(oid)
    assert ref["endpoint"] == server.endpoint
    assert isinstance(ref["version"], int)
    # ticket without ":version", and with ":0"
    for t in (ref["key"], f"{ref['key']}:0"):
        assert fu.get_raw(server.client, t).base_data == b"legacy-data"


def test_action_put_update_get_delete(server):
    sess = _sess()
    m1 = _meta(fu.action(server.client, "PUT", f"{sess}:{base64.b64encode(b'one').decode()}"))
    s, oid = m1["key"].split("/")
    assert s == sess and fu.is_uuid4(oid)
    m2 = _meta(fu.action(server.client, "PUT", f"{sess}:{base64.b64encode(b'two').decode()}"))
    assert m2["key"] != m1["key"]
    assert fu.get_raw(server.client, m1["key"]).base_data == b"one"

    m1u = _meta(fu.action(server.client, "UPDATE", f"{m1['key']}:{base64.b64encode(b'one-v2').decode()}"))
    assert m1u["key"] == m1["key"]
    assert m1u["version"] > m1["version"] or m1["version"] == 0
    assert fu.get_raw(server.client, m1["key"]).base_data == b"one-v2"

    # 2-part exact delete leaves the sibling
    assert fu.delete(server.client, m1["key"]) == [b"OK"]
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, m1["key"])
    assert fu.get_raw(server.client, m2["key"]).base_data == b"two"
    # 1-part session delete
    assert fu.delete(server.client, sess) == [b"OK"]
    fu.assert_status("NOT_FOUND", fu.get_raw, server.client, m2["key"])


def test_two_part_doput_path_is_a_prefix(server):
    """do_put PATH ["session/object"]: in the current protocol a 2-part path is an
    "<app>/<ssn>" prefix, so the server generates an id (3-part key); legacy 2-part keys are
    only created by a 1-part put path or the PUT action, and updated with the UPDATE action."""
    sess = _sess()
    reply = fu.put_opaque(server.client, f"{sess}/obj", b"x")
    app_, ssn, oid = reply.ref["key"].split("/")
    assert (app_, ssn) == (sess, "obj") and fu.is_uuid4(oid)
    fu.delete(server.client, f"{sess}/*")


def test_legacy_action_errors(server):
    sess = _sess()
    # missing ":" / bad base64 / missing object for UPDATE
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "PUT", sess)
    fu.assert_status("INVALID_ARGUMENT", fu.action, server.client, "PUT", f"{sess}:***not-base64***")
    st, _ = fu.call_status(fu.action, server.client, "UPDATE", f"{sess}/none:{base64.b64encode(b'x').decode()}")
    assert st in ("OK", "NOT_FOUND")  # FLIGHT0's UPDATE was an upsert
