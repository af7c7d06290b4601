"""Agents signed in with the organisation's identity provider: OIDC / OAuth2 bearer JWTs, checked
against the keys the issuer publishes (its JWKS).

The keys are fetched with an async client, never on the event loop's time: when a token names a
key id we do not hold (the issuer rotated its keys), at most once per refetch interval; in the
background when the keys we hold are older than their maximum age. Checking a token against a
held key is CPU only (`TokenVerifier.verify`), so a caller that cannot wait can do it too.

Only asymmetric algorithms are accepted: `none` and HS* (which would take a published public key
as a shared secret) never are, whatever a token's header says. PyJWT checks the signature, `iss`,
`aud` and the required claims; expiry (`exp`, `nbf`, `iat`) is checked here against the service's
injected clock, because PyJWT reads the system time and takes no "now"."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt
from jwt.exceptions import (
    DecodeError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWKError,
    PyJWTError,
)

from supportdesk_contract.clock import Clock

log = logging.getLogger(__name__)

# The algorithms a token may be signed with: public-key ones only.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# A compact JWS: three base64url parts (the third empty for `alg: none`, which is then refused as
# a token rather than compared against the API keys).
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_SAFE_ALG = re.compile(r"^[A-Za-z0-9]{1,16}$")
# Claims PyJWT must find: a token names its issuer, audience, expiry and subject (RFC 9068).
_REQUIRED = ["iss", "aud", "exp", "sub"]
_PUBLIC_KEY_TYPES = ("RSA", "EC", "OKP")


def looks_like_jwt(credential: str) -> bool:
    """A bearer credential shaped like a JWT (an API key or a ticket's access token is not)."""
    return _JWT_SHAPE.match(credential) is not None


@dataclass(frozen=True)
class OidcConfig:
    """What the chassis needs to know of the identity provider (from `ServiceSettings.oidc_config`)."""

    issuer: str
    audience: str
    jwks_url: str = ""  # empty: discovered from the issuer's openid-configuration
    agent_claim: str = "email"
    roles_claim: str = "roles"
    agent_role: str = "agent"
    admin_role: str = "admin"
    leeway_seconds: float = 60.0
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    refetch_seconds: float = 30.0
    keys_max_age_seconds: float = 3600.0
    http_timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        refused = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if refused or not self.algorithms:
            raise ValueError(f"only public-key algorithms are accepted for tokens, not {', '.join(refused) or 'none'}")
        if not self.issuer or not self.audience:
            raise ValueError("an OIDC issuer needs an audience (the desk's client or API id at the provider)")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's name, or a signed-in agent from their token."""

    name: str  # what commands record: the key's name, or the configured claim's value
    via: Literal["key", "token"]
    agent: bool = False  # may use agent routes
    admin: bool = False  # may use admin routes
    roles: frozenset[str] = frozenset()  # as the token's roles claim lists them (none for a key)
    subject: str | None = None  # the token's `sub`: stable at the provider, unlike a name or email
    email: str | None = None


class TokenRejected(Exception):
    """The token is not acceptable: answered 401, the reason in words (never the token)."""


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched, so the token cannot be checked now: answered 503."""


class TokenVerifier:
    """Checks bearer JWTs against one issuer's published keys, which it fetches and caches."""

    def __init__(self, config: OidcConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._jwks_url = config.jwks_url
        self._keys: dict[str, Mapping[str, Any]] = {}  # kid -> the JWK as published
        self._prepared: dict[tuple[str, str], jwt.PyJWK] = {}  # (kid, alg) -> the key ready to verify
        self._fetched_at: float | None = None  # event-loop time of the last fetch that worked
        self._attempted_at: float | None = None  # ... and of the last one tried
        self._failure: str | None = None  # why the last fetch failed, until one works
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def authenticate(self, token: str) -> Principal:
        """The token's principal, fetching the issuer's keys first if the token needs it."""
        await self.prepare(token)
        return self.verify(token)

    async def prepare(self, token: str) -> None:
        """Make sure the key the token names is held, if the issuer publishes it: the first fetch,
        or a refetch for a key id we do not hold (rate-limited). Never raises: `verify` says why."""
        kid = _unverified_kid(token)
        loop = asyncio.get_running_loop()
        if self._fetched_at is not None and loop.time() - self._fetched_at >= self.config.keys_max_age_seconds:
            self._refresh_in_background()
        if self._holds(kid):
            return
        # A fetch under way may bring the key: wait for it rather than refuse the token meanwhile.
        async with self._lock:
            if self._holds(kid) or self._rate_limited(loop.time()):
                return
            await self._fetch()

    def verify(self, token: str) -> Principal:
        """The principal of a token checked against the keys held now (CPU only, no I/O)."""
        try:
            header = jwt.get_unverified_header(token)
        except DecodeError:
            raise TokenRejected("the bearer token is not a readable JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            named = f"`{alg}` " if isinstance(alg, str) and _SAFE_ALG.match(alg) else ""
            accepted = ", ".join(self.config.algorithms)
            raise TokenRejected(f"the token's algorithm {named}is not accepted (accepted: {accepted})")
        key = self._key_for(header.get("kid"), alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                # Time is checked below against the injected clock; PyJWT would read the system's.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": _REQUIRED,
                    "enforce_minimum_key_length": True,  # no RSA key under 2048 bits
                },
            )
        except InvalidSignatureError:
            raise TokenRejected("the token's signature does not verify with the issuer's key") from None
        except MissingRequiredClaimError as e:
            raise TokenRejected(f"the token has no `{e.claim}` claim") from None
        except InvalidAudienceError:
            raise TokenRejected("the token is for another audience, not this desk") from None
        except InvalidIssuerError:
            raise TokenRejected("the token was issued by another issuer, not the configured one") from None
        except InvalidAlgorithmError:
            raise TokenRejected("the token's algorithm does not match its key") from None
        except InvalidKeyError:
            raise TokenRejected("the issuer's key is too weak to trust (an RSA key under 2048 bits)") from None
        except PyJWTError:
            raise TokenRejected("the token is malformed or its claims are invalid") from None
        self._check_times(claims)
        return self._principal(claims)

    async def close(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()

    def _holds(self, kid: str | None) -> bool:
        return bool(self._keys) and (kid is None or kid in self._keys)

    def _rate_limited(self, now: float) -> bool:
        # A flood of made-up key ids costs the issuer one fetch per interval, no more.
        return self._attempted_at is not None and now - self._attempted_at < self.config.refetch_seconds

    def _refresh_in_background(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._fetched_at is None or loop.time() - self._fetched_at >= self.config.keys_max_age_seconds:
                await self._fetch()

    async def _fetch(self) -> None:
        """Fetch the JWKS (after discovering its address), bounded by the HTTP timeout. On failure
        the keys already held stay in use, and the reason is kept for the 503 it may cause."""
        loop = asyncio.get_running_loop()
        self._attempted_at = loop.time()
        timeout = self.config.http_timeout_seconds
        try:
            async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client:
                if not self._jwks_url:
                    self._jwks_url = await self._discover(client)
                response = await client.get(self._jwks_url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = parse_jwks(response.json())
        except (httpx.HTTPError, TimeoutError, ValueError) as e:
            self._failure = _describe(e)
            log.warning("the identity provider's keys were not fetched: %s", self._failure)
            return
        if not keys:
            self._failure = "the issuer's JWKS holds no signing key"
            log.warning("%s", self._failure)
            return
        added = keys.keys() - self._keys.keys()
        if self._keys and added:
            log.info("the identity provider published new keys: %s", ", ".join(sorted(added)))
        self._keys, self._prepared = keys, {}
        self._fetched_at, self._failure = loop.time(), None

    async def _discover(self, client: httpx.AsyncClient) -> str:
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the openid-configuration is not a JSON object")
        # OpenID Connect Discovery: the document's issuer is exactly the one asked about.
        if document.get("issuer") != self.config.issuer:
            raise ValueError("the openid-configuration names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ValueError("the openid-configuration has no jwks_uri")
        return jwks_uri

    def _key_for(self, kid: object, alg: str) -> jwt.PyJWK:
        if not self._keys:
            raise KeysUnavailable(
                f"the identity provider's signing keys are not available: {self._failure or 'not fetched yet'}"
            )
        if kid is None:
            if len(self._keys) != 1:
                raise TokenRejected("the token names no key id (kid) and the issuer publishes several keys")
            kid = next(iter(self._keys))
        if not isinstance(kid, str):
            raise TokenRejected("the token's key id (kid) is not a string")
        published = self._keys.get(kid)
        if published is None:
            if self._failure is not None:
                why = self._failure
                raise KeysUnavailable(f"the token's key id is new and the issuer's keys cannot be refetched: {why}")
            raise TokenRejected("the token's key id (kid) is not one the issuer publishes")
        prepared = self._prepared.get((kid, alg))
        if prepared is None:
            if published.get("alg", alg) != alg:
                raise TokenRejected("the token's algorithm does not match its key")
            try:
                prepared = jwt.PyJWK(dict(published), algorithm=alg)
            except PyJWKError:
                raise TokenRejected("the token's algorithm does not suit its key") from None
            self._prepared[(kid, alg)] = prepared
        return prepared

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.now().timestamp()
        leeway = self.config.leeway_seconds
        exp = _instant(claims, "exp")
        if exp is not None and exp <= now - leeway:
            raise TokenRejected("the token has expired")
        nbf = _instant(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise TokenRejected("the token is not valid yet (nbf)")
        iat = _instant(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise TokenRejected("the token was issued in the future (iat)")

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        name = claims.get(self.config.agent_claim)
        if not isinstance(name, str) or not name.strip():
            raise TokenRejected(f"the token has no `{self.config.agent_claim}` claim naming the agent")
        roles = roles_in(claims, self.config.roles_claim)
        email = claims.get("email")
        subject = claims.get("sub")
        return Principal(
            name=name.strip(),
            via="token",
            agent=self.config.agent_role in roles,
            admin=self.config.admin_role in roles,
            roles=roles,
            subject=subject if isinstance(subject, str) else None,
            email=email if isinstance(email, str) else None,
        )


def parse_jwks(document: object) -> dict[str, Mapping[str, Any]]:
    """A JWKS's public signing keys by key id. Encryption keys and symmetric (`oct`) keys are
    left out: a published secret would be no secret. A key without an id is kept under "" (a
    token without `kid` may use it when it is the only key)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS is not an object with a `keys` list")
    keys: dict[str, Mapping[str, Any]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") not in _PUBLIC_KEY_TYPES:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid", "")
        if isinstance(kid, str):
            keys[kid] = jwk
    return keys


def roles_in(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    """The roles a token carries: the claim by its exact name (namespaced URLs hold dots), else as
    a dotted path (`realm_access.roles`); a list of strings or one space-separated string."""
    value: object = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _instant(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(f"the token's `{name}` claim is not a number of seconds")
    return float(value)


def _unverified_kid(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except DecodeError:
        return None
    return kid if isinstance(kid, str) else None


def _describe(e: BaseException) -> str:
    if isinstance(e, TimeoutError | httpx.TimeoutException):
        return "the issuer did not answer in time"
    if isinstance(e, httpx.HTTPStatusError):
        return f"the issuer answered {e.response.status_code}"
    if isinstance(e, httpx.HTTPError):
        return f"the issuer cannot be reached ({type(e).__name__})"
    return str(e)
