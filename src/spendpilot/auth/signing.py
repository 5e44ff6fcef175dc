"""Signing keys: Ed25519 key ring with kid, persisted in the data dir, published as JWKS, rotated."""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import OKPAlgorithm

_KEY_FILE = re.compile(r"^signing-(\d+)\.pem$")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    public: Ed25519PublicKey


def _kid(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _from_pem(pem: bytes) -> SigningKey:
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError("signing key must be an Ed25519 private key in PEM")
    public = private.public_key()
    return SigningKey(_kid(public), private, public)


class KeyRing:
    """The active key signs; older keys still verify tokens until they expire."""

    def __init__(self, active: SigningKey, previous: list[SigningKey] | None = None):
        self.active = active
        self._by_kid = {k.kid: k for k in [active, *(previous or [])]}

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._by_kid.get(kid)
        return key.public if key else None

    @property
    def kids(self) -> list[str]:
        return list(self._by_kid)

    def jwks(self) -> dict:
        keys = []
        for key in self._by_kid.values():
            jwk = OKPAlgorithm.to_jwk(key.public, as_dict=True)
            keys.append({**jwk, "kid": key.kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": keys}

    def derived_keys(self, purpose: str) -> list[tuple[str, bytes]]:
        """(kid, 32-byte key) for `purpose`, derived with HKDF-SHA256 from each signing key, the active key
        first: a secret every instance sharing the signing keys can compute, and nothing else can."""
        keys = [self.active, *(k for k in self._by_kid.values() if k is not self.active)]
        return [(k.kid, _derive(k.private, purpose)) for k in keys]

    @classmethod
    def from_pem(cls, pem: str, previous_pems: list[str] | None = None) -> KeyRing:
        previous = [_from_pem(p.encode()) for p in previous_pems or []]
        return cls(_from_pem(pem.encode()), previous)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> KeyRing:
        """Newest key file signs; the rest verify. Creates the first key on first start."""
        files = key_files(keys_dir)
        if not files:
            files = [generate_key_file(keys_dir)]
        keys = [_from_pem(f.read_bytes()) for f in files]
        return cls(keys[-1], keys[:-1])


def _derive(private: Ed25519PrivateKey, purpose: str) -> bytes:
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"spendpilot:{purpose}".encode()).derive(raw)


def _numbered_key_files(keys_dir: Path) -> list[tuple[int, Path]]:
    """(number, path) of each key file, oldest first (by number, so 0010 sorts after 0009)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    return sorted((int(m.group(1)), p) for p in keys_dir.iterdir() if (m := _KEY_FILE.match(p.name)))


def key_files(keys_dir: Path) -> list[Path]:
    """The key files, oldest first (by their number, so 0010 sorts after 0009)."""
    return [p for _, p in _numbered_key_files(keys_dir)]


def generate_key_file(keys_dir: Path) -> Path:
    """Write a new Ed25519 key that sorts after the existing ones (used for rotation)."""
    numbered = _numbered_key_files(keys_dir)
    # One more than the highest number, not the count: after pruning, a count would reuse
    # the number of the active key and overwrite it.
    index = numbered[-1][0] + 1 if numbered else 1
    path = keys_dir / f"signing-{index:04d}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created with owner-only permissions from the start, and never over an existing file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return path


def rotate_key(keys_dir: Path, retire_after_s: float) -> tuple[Path, list[Path]]:
    """Add a new signing key and delete keys no live token can still be signed with.

    A key stops signing when its successor is written; every token it signed expires at most
    `retire_after_s` (the refresh token lifetime) later, so after that it is safe to drop.
    Running servers pick the new key up when they restart. Returns (new key, removed keys).
    """
    new = generate_key_file(keys_dir)
    files = key_files(keys_dir)
    now = time.time()
    removed = []
    for older, successor in pairwise(files):
        if now - successor.stat().st_mtime > retire_after_s:
            older.unlink()
            removed.append(older)
    return new, removed
