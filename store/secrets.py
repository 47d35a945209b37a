"""Secrets at rest: what okrbot stores that would let someone act as it (Slack installations' bot,
user and refresh tokens) is kept encrypted with ``OKRBOT_SECRET_KEY``.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) behind :class:`MultiFernet`: the
setting lists one key or several, comma-separated; the first encrypts, any of them decrypts, so a
new key goes first and the old ones stay after it until ``okrbot secrets rotate`` has re-encrypted
everything with the new one. A stored secret reads ``fernet:<token>``; anything else is a value
from before encryption, which :meth:`SecretBox.seal_again` encrypts.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"
SETTING = "OKRBOT_SECRET_KEY"
HOW = "make one with `okrbot secret-key`"


class SecretKeyError(Exception):
    """The key is missing, malformed, or does not open what is stored: one sentence that says so."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def new_key() -> str:
    """A fresh key for OKRBOT_SECRET_KEY: 32 random bytes, URL-safe base64."""
    return Fernet.generate_key().decode()


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIX)


class SecretBox:
    """Seals and opens the secrets okrbot stores, with the keys of OKRBOT_SECRET_KEY."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise SecretKeyError(f"{SETTING} is empty: {HOW}.")
        fernets = []
        for number, key in enumerate(parts, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise SecretKeyError(
                    f"{SETTING} key {number} is not a Fernet key (44 characters of URL-safe base64): {HOW}."
                ) from None
        self._box = MultiFernet(fernets)

    def seal(self, plain: str | None) -> str | None:
        if plain is None:
            return None
        return PREFIX + self._box.encrypt(plain.encode()).decode()

    def open(self, stored: str | None) -> str | None:
        """The secret; a value stored before encryption comes back as it was."""
        if not is_sealed(stored):
            return stored
        assert stored is not None
        try:
            return self._box.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise _wrong_key() from None

    def seal_again(self, stored: str | None) -> str | None:
        """``stored`` encrypted with the first key (a plain value encrypted for the first time)."""
        if stored is None:
            return None
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            return PREFIX + self._box.rotate(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise _wrong_key() from None


def _wrong_key() -> SecretKeyError:
    return SecretKeyError(
        f"{SETTING} does not open the secrets stored in this database: they were encrypted with "
        "another key (list the old key after the new one, comma-separated, then `okrbot secrets rotate`)."
    )
