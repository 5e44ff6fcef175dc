"""Encrypting connector admin keys at rest (Fernet: AES-128-CBC with an HMAC, from `cryptography`).

The key comes from SPENDPILOT_SECRETS_KEY; in development, when it is unset, one is generated into
the data dir (production refuses to start without it: server/preflight.py). Several keys may be
given, comma-separated, newest first: encryption uses the first, decryption tries each, so the key
can be rotated.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def valid_key(text: str) -> bool:
    try:
        for part in text.split(","):
            Fernet(part.strip().encode())
    except (ValueError, TypeError):
        return False
    return True


class SecretBox:
    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])

    @classmethod
    def from_settings(cls, secrets_key: str | None, data_dir: Path) -> SecretBox:
        if secrets_key:
            return cls(secrets_key)
        path = data_dir / "keys" / "secrets.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return cls(path.read_text().strip())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretError("the stored key cannot be decrypted with SPENDPILOT_SECRETS_KEY "
                              "(was it changed?)") from None
