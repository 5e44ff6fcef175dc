"""The key ring: keys persisted in the data dir, published as JWKS, rotated without breaking live tokens."""

from __future__ import annotations

import os
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from spendpilot.auth.signing import KeyRing, generate_key_file, key_files, rotate_key
from spendpilot.auth.tokens import TokenService
from tests.unit.auth.keys import ACCESS_TTL_S, REFRESH_TTL_S, new_pem

WHO = {"user_id": "usr_1", "org_id": "org_1", "email": "ana@example.com", "family_id": "fam_1"}


def test_jwks_publishes_every_verifying_key_and_no_private_part():
    old, new = new_pem(), new_pem()
    ring = KeyRing.from_pem(new, [old])
    jwks = ring.jwks()
    assert [k["kid"] for k in jwks["keys"]] == ring.kids == [ring.active.kid, KeyRing.from_pem(old).active.kid]
    for key in jwks["keys"]:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
        assert "d" not in key and key["x"]


def test_a_token_verifies_with_the_public_key_read_from_the_jwks(keys, tokens):
    """What another API instance does: verify locally with nothing but the published keys."""
    token, _ = tokens.issue(type="access", **WHO)
    published = {k["kid"]: k for k in keys.jwks()["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    public = jwt.PyJWK(published[kid]).key
    assert jwt.decode(token, public, algorithms=["EdDSA"])["sub"] == "usr_1"


def test_the_kid_is_derived_from_the_public_key():
    pem = new_pem()
    assert KeyRing.from_pem(pem).active.kid == KeyRing.from_pem(pem).active.kid
    assert KeyRing.from_pem(pem).active.kid != KeyRing.from_pem(new_pem()).active.kid
    assert len(KeyRing.from_pem(pem).active.kid) == 16


def test_a_key_that_is_not_ed25519_is_refused():
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(ValueError, match="Ed25519"):
        KeyRing.from_pem(other)


def test_the_first_start_creates_an_owner_only_key_that_later_starts_reuse(tmp_path):
    keys_dir = tmp_path / "keys"
    first = KeyRing.load_or_create(keys_dir)
    [created] = key_files(keys_dir)
    assert created.name == "signing-0001.pem"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert KeyRing.load_or_create(keys_dir).active.kid == first.active.kid


def test_after_rotation_the_new_key_signs_and_the_old_one_still_verifies(tmp_path):
    before = KeyRing.load_or_create(tmp_path)
    old_token, _ = TokenService(before, ACCESS_TTL_S, REFRESH_TTL_S).issue(type="refresh", **WHO)
    new_path, removed = rotate_key(tmp_path, retire_after_s=REFRESH_TTL_S)
    assert (new_path.name, removed) == ("signing-0002.pem", [])
    after = KeyRing.load_or_create(tmp_path)
    assert after.active.kid != before.active.kid and before.active.kid in after.kids
    service = TokenService(after, ACCESS_TTL_S, REFRESH_TTL_S)
    assert service.verify(old_token, "refresh").user_id == "usr_1"
    new_token, _ = service.issue(type="access", **WHO)
    assert jwt.get_unverified_header(new_token)["kid"] == after.active.kid


def test_key_files_sort_by_number_not_by_name(tmp_path):
    (tmp_path / "signing-9.pem").write_text(new_pem())
    generate_key_file(tmp_path)
    (tmp_path / "signing-notes.txt").write_text("not a key")
    (tmp_path / "signing-x.pem").write_text("not a key either")
    assert [p.name for p in key_files(tmp_path)] == ["signing-9.pem", "signing-0010.pem"]
    ring = KeyRing.load_or_create(tmp_path)
    assert ring.active.kid == KeyRing.from_pem((tmp_path / "signing-0010.pem").read_text()).active.kid


def test_rotation_drops_only_keys_whose_successor_outlived_every_token(tmp_path):
    for _ in range(3):
        generate_key_file(tmp_path)
    first, second, third = key_files(tmp_path)
    long_ago = time.time() - 1000
    os.utime(second, (long_ago, long_ago))  # second took over from first long ago
    new, removed = rotate_key(tmp_path, retire_after_s=500)
    # first: its successor (second) has signed for 1000 s > 500 s, so no token of first is alive.
    # second: its successor (third) is recent, so second's tokens may still be alive.
    assert removed == [first]
    assert key_files(tmp_path) == [second, third, new]


def test_a_new_key_never_overwrites_an_existing_number_after_pruning(tmp_path):
    for _ in range(2):
        generate_key_file(tmp_path)
    key_files(tmp_path)[0].unlink()  # pruned: only signing-0002 is left
    active = (tmp_path / "signing-0002.pem").read_text()
    created = generate_key_file(tmp_path)
    assert created.name == "signing-0003.pem"
    assert (tmp_path / "signing-0002.pem").read_text() == active
