"""Signing keys: Ed25519 key ring with kid, persisted in the data dir, published as JWKS."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey | None
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

    def jwks(self) -> dict:
        keys = []
        for key in self._by_kid.values():
            jwk = OKPAlgorithm.to_jwk(key.public, as_dict=True)
            keys.append({**jwk, "kid": key.kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": keys}

    @classmethod
    def from_pem(cls, pem: str, previous_pems: list[str] | None = None) -> "KeyRing":
        previous = [_from_pem(p.encode()) for p in previous_pems or []]
        return cls(_from_pem(pem.encode()), previous)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> "KeyRing":
        """Newest key file signs; the rest verify. Creates the first key on first start."""
        keys_dir.mkdir(parents=True, exist_ok=True)
        files = sorted(keys_dir.glob("signing-*.pem"))
        if not files:
            files = [generate_key_file(keys_dir)]
        keys = [_from_pem(f.read_bytes()) for f in files]
        return cls(keys[-1], keys[:-1])


def generate_key_file(keys_dir: Path) -> Path:
    """Write a new Ed25519 key that sorts after the existing ones (used for rotation)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    index = len(list(keys_dir.glob("signing-*.pem"))) + 1
    path = keys_dir / f"signing-{index:04d}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path
