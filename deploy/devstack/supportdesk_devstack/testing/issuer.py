"""An identity provider of the test's own: key pairs it makes, its openid-configuration and JWKS
served on a local port by a real HTTP server (in a thread), and tokens it signs, so the services'
token checks are tested against real HTTP and real signatures, with no outside provider."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

AUDIENCE = "supportdesk-api"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey

    def jwk(self) -> dict[str, Any]:
        """The public half as the issuer publishes it."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def signing_key(kid: str, alg: str = "RS256") -> SigningKey:
    """A new key pair: RSA 2048 for RS256, P-256 for ES256, Ed25519 for EdDSA."""
    private: PrivateKey
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no test key for {alg}")
    return SigningKey(kid, alg, private)


class LocalIssuer:
    """The provider: `publish` sets the keys its JWKS lists; `jwks_fetches` counts the fetches."""

    def __init__(self, url: str, audience: str = AUDIENCE) -> None:
        self.url, self.audience = url, audience
        self.jwks_fetches = 0
        self._jwks: dict[str, Any] = {"keys": []}
        self._lock = threading.Lock()

    def publish(self, *keys: SigningKey) -> None:
        with self._lock:
            self._jwks = {"keys": [k.jwk() for k in keys]}

    def token(
        self,
        key: SigningKey,
        now: datetime,
        *,
        lifetime: timedelta = timedelta(minutes=10),
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed with `key`, valid from `now` for `lifetime`; `claims` add to or replace
        the usual ones (a claim given as None is left out)."""
        body = {
            "iss": self.url,
            "aud": self.audience,
            "sub": "idp-user-0001",
            "email": "pat@supportdesk.example",
            "roles": ["agent"],
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
        }
        body.update(claims)
        payload = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid, **(header or {})})

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The services' settings (by their environment names) that trust this issuer."""
        return {"SUPPORTDESK_OIDC_ISSUER": self.url, "SUPPORTDESK_OIDC_AUDIENCE": self.audience, **overrides}

    def answer(self, path: str) -> dict[str, Any] | None:
        if path == "/.well-known/openid-configuration":
            return {"issuer": self.url, "jwks_uri": f"{self.url}/keys", "id_token_signing_alg_values_supported": []}
        if path == "/keys":
            with self._lock:
                self.jwks_fetches += 1
                return self._jwks
        return None


@contextmanager
def local_issuer(audience: str = AUDIENCE) -> Iterator[LocalIssuer]:
    """A LocalIssuer served on a free loopback port until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        issuer: LocalIssuer  # set once the server has its port

        def do_GET(self) -> None:
            document = self.issuer.answer(self.path)
            body = json.dumps(document).encode() if document is not None else b"{}"
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output is not the place for an access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = Handler.issuer = LocalIssuer(f"http://127.0.0.1:{server.server_address[1]}", audience)
    thread = threading.Thread(target=server.serve_forever, name="local-issuer", daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
