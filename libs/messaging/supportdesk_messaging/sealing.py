"""Sealed values in events: readable only by services that hold the key.

The event log is kept forever, so a secret that must travel in an event (the requester's access
token, from intake to the notifier that mails it) travels sealed (Fernet: AES-128-CBC + HMAC).
The key comes from the environment (REQUESTER_TOKEN_KEY), shared by exactly those two services;
rotating it leaves old events unreadable, which is the point.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


def new_key() -> str:
    return Fernet.generate_key().decode()


def seal(key: str, value: str) -> str:
    return Fernet(key.encode()).encrypt(value.encode()).decode()


def unseal(key: str, sealed: str) -> str | None:
    """The value, or None if this key cannot open it (another key, or tampered)."""
    try:
        return Fernet(key.encode()).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
