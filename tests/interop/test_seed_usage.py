"""The usage example from the seed README (shared/seed), run with flamepy 0.6.0:

    from flamepy import put_object, get_object, ObjectRef
    ref = put_object("session123", my_data)
    print(f"Stored at: {ref.endpoint}/{ref.key}")
    data = get_object(ref)
    new_ref = update_object(ref, new_data)

What is and is not possible with flamepy 0.6.0:
  * `put_object("session123", ...)` is rejected by flamepy itself before any RPC: 0.6.0 needs a
    "<app>/<session>" prefix (ValueError "Invalid object key path ..."). The 1-part form only
    exists on the wire (DoPut PATH ["session123"], see test_legacy_seed_forms.py).
  * `update_object` is exported at top level, but the seed's import line does not import it.
  * With an "<app>/<session>" prefix the same three calls work unchanged.
  * `f"{ref.endpoint}/{ref.key}"` is exactly the package-URL form the Runner builds (ref §6.4).
"""

from __future__ import annotations

import pytest

import flamepy
from flamepy import ObjectRef, get_object, put_object, update_object

import flight_util as fu


def test_seed_example_literal_is_rejected_by_flamepy(flame):
    my_data = {"weights": [0.1, 0.2]}
    with pytest.raises(ValueError, match="Invalid object key path 'session123'"):
        put_object("session123", my_data)


def test_seed_example_with_app_prefix(flame, app):
    my_data = {"weights": [0.1, 0.2]}
    ref = put_object(f"{app}/session123", my_data)
    assert isinstance(ref, ObjectRef)
    url = f"{ref.endpoint}/{ref.key}"
    assert url.startswith(f"{flame.endpoint}/{app}/session123/")
    data = get_object(ref)
    assert data == my_data
    new_ref = update_object(ref, {"weights": [0.3]})
    assert (new_ref.key, new_ref.version) == (ref.key, 2)
    assert get_object(new_ref) == {"weights": [0.3]}


def test_seed_top_level_exports():
    assert flamepy.__version__ == "0.6.0"
    for name in ("put_object", "get_object", "update_object", "ObjectRef"):
        assert hasattr(flamepy, name)
    # not at top level in 0.6.0:
    for name in ("delete_objects", "patch_object", "upload_object", "download_object"):
        assert not hasattr(flamepy, name), name
    import importlib

    cache_mod = importlib.import_module("flamepy.cache")
    core_mod = importlib.import_module("flamepy.core")
    assert hasattr(cache_mod, "delete_objects") and not hasattr(core_mod, "delete_objects")


def test_seed_two_part_ref_is_rejected_by_flamepy(flame, app):
    """A 2-part key ref ("session/object", FLIGHT0 era) cannot be read through flamepy 0.6.0."""
    with pytest.raises(ValueError, match="expected '<app>/<ssn>/<uuid>'"):
        get_object(ObjectRef(endpoint=flame.endpoint, key="session123/obj", version=0))
