"""Rate limits: how many requests a client address, a requester or a ticket may make in a window,
counted in this process's memory by the `limits` library. A route declares the limit it takes
(`per_address(...)` as a dependency, or `check(...)` with a key it knows only after reading the
body); over it, 429 problem+json with `Retry-After`, counted in `/metrics`.

Counters live in each process: with N replicas behind a balancer, a client may get up to N times
a limit (docs/operations/security.md#rate-limits)."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Sequence

from fastapi import FastAPI, Request, params
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from supportdesk_observability.metrics import RATE_LIMITED
from supportdesk_service.problems import Problem, problem_answers, problem_response

# The limits by name, each counted by what its name says. Defaults for a real desk; each is
# overridable by SUPPORTDESK_RATE_LIMIT_<NAME> in the `limits` notation ("10/minute;60/hour"), and
# SUPPORTDESK_RATE_LIMITS=off turns all of them off.
WEB_FORM_ADDRESS = "web_form_address"
WEB_FORM_REQUESTER = "web_form_requester"
REQUESTER_ACTIONS = "requester_actions"
INBOUND_ADDRESS = "inbound_address"
PREVIEW_ADDRESS = "preview_address"
WHAT_IF_ADDRESS = "what_if_address"
HEALTH_ADDRESS = "health_address"
LIMITS = (
    WEB_FORM_ADDRESS,
    WEB_FORM_REQUESTER,
    REQUESTER_ACTIONS,
    INBOUND_ADDRESS,
    PREVIEW_ADDRESS,
    WHAT_IF_ADDRESS,
    HEALTH_ADDRESS,
)

# What a route's OpenAPI says of its 429 (in `problem_answers(s429=...)`).
REFUSED = "over a rate limit: problem+json naming the limit; `Retry-After` says when to retry"


def answers() -> dict[int | str, dict[str, object]]:
    """A rate-limited route's `responses=` entry for its 429."""
    return problem_answers(s429=REFUSED)


class RateLimitSettings(BaseSettings):
    """Read once per service from the environment (shared names, no service prefix)."""

    # populate_by_name: a test or a caller may pass `enabled=`, `trusted_proxies=` by field name.
    model_config = SettingsConfigDict(env_prefix="SUPPORTDESK_RATE_LIMIT_", extra="ignore", populate_by_name=True)

    enabled: bool = Field(True, validation_alias="SUPPORTDESK_RATE_LIMITS")
    # Peers whose X-Forwarded-For is believed (addresses or networks, comma-separated): the load
    # balancer or ingress in front of the services. Empty: the peer is the client, always.
    trusted_proxies: str = Field("", validation_alias="SUPPORTDESK_TRUSTED_PROXIES")
    # The public web form, per client address: an office behind one NAT opens a few at once.
    web_form_address: str = "10/minute;60/hour"
    # ... and per requester (their normalised email), from any address: nobody opens more.
    web_form_requester: str = "5/hour;20/day"
    # Reply, reopen, escalate, confirm with a ticket's access token, per ticket.
    requester_actions: str = "10/minute;60/day"
    # Mail vendors' webhooks, raw mail from our MTA, phone webhooks, per sending address (a
    # vendor's few addresses carry all our inbound mail: generous).
    inbound_address: str = "600/minute"
    # sla-clock's public deadline preview, per address.
    preview_address: str = "60/minute"
    # sla-clock's what-if (an agent's; it reads a range of recorded history), per address.
    what_if_address: str = "10/minute;100/hour"
    # /healthz, /readyz and /metrics per address: far above any prober's (a kubelet probes every
    # few seconds), low enough that one address cannot flood them.
    health_address: str = "1200/minute"

    @field_validator(*LIMITS)
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_limits(value)  # a wrong one stops the service at start, naming the setting
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def limits(self) -> dict[str, tuple[RateLimitItem, ...]]:
        return {name: parse_limits(getattr(self, name)) for name in LIMITS}


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """'10/minute;60/hour' -> its items; '' (or 'none') -> no limit."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(parse_many(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit (e.g. '10/minute;60/hour')") from None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, 192.168.1.7' -> the networks (a lone address is a network of one)."""
    try:
        return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip())
    except ValueError as e:
        raise ValueError(f"SUPPORTDESK_TRUSTED_PROXIES: {e}") from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """Who is asking: the peer, unless the peer is a trusted proxy; then, reading X-Forwarded-For
    from the right (each proxy appends whom it heard from), the first hop that is not a trusted
    proxy. What a client wrote at the left end itself is believed only if every hop after it is
    ours; an entry that is not an address ends the walk at the last hop we trust."""
    current = _address(peer)
    if current is None or not _trusted(current, proxies):
        return peer
    hops = [h for header in forwarded_for for h in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


def requester_key(email: str) -> str:
    """One requester however they write their address: case folded, a `+tag` dropped; hashed, so
    the counters hold no address."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    return "requester:" + hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()


class RateLimited(Problem):
    def __init__(self, limit: str, item: RateLimitItem, retry_after: int) -> None:
        super().__init__(
            429,
            "Too Many Requests",
            f"over the {limit} limit ({item}); retry in {retry_after} s",
            limit=limit,
            retry_after=retry_after,
        )
        self.retry_after = retry_after


async def rate_limited(_: Request, exc: Exception) -> JSONResponse:
    """The 429's problem+json with its `Retry-After` (installed by the app)."""
    assert isinstance(exc, RateLimited)  # registered for this class only
    response = problem_response(exc.status, exc.title, exc.detail, **exc.extra)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


class RateLimiter:
    """One per app: the limits from its settings, counted in memory."""

    def __init__(self, settings: RateLimitSettings, service: str) -> None:
        self.enabled = settings.enabled
        self.service = service
        self.proxies = parse_networks(settings.trusted_proxies)
        self._limits = settings.limits()
        # A sliding window: no double burst at a window's edge (a fixed window allows), and one
        # counter pair per key (a moving window keeps every hit).
        self._strategy = SlidingWindowCounterRateLimiter(MemoryStorage())

    def address_of(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        return client_address(peer, request.headers.getlist("x-forwarded-for"), self.proxies)

    def check(self, request: Request, limit: str, key: str) -> None:
        """Count this request against `limit` for `key`, or raise RateLimited (counting nothing)."""
        if not self.enabled:
            return
        items = self._limits[limit]
        # Tested all before any is hit: a refused request uses up none of the windows. No await
        # between, so no other request interleaves.
        for item in items:
            if not self._strategy.test(item, limit, key):
                RATE_LIMITED.labels(self.service, _route_of(request), limit).inc()
                raise RateLimited(limit, item, self._retry_after(item, limit, key))
        for item in items:
            self._strategy.hit(item, limit, key)

    def _retry_after(self, item: RateLimitItem, limit: str, key: str) -> int:
        reset = self._strategy.get_window_stats(item, limit, key).reset_time
        # The library keeps its windows on the wall clock: the wait is measured on the same one.
        return max(1, math.ceil(reset - time.time()))


def _route_of(request: Request) -> str:
    """The route's path template (a bounded label), not the path with its ids."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "")) or "unmatched"


def limiter(request: Request) -> RateLimiter:
    found: RateLimiter = request.app.state.rate_limiter
    return found


def check(request: Request, limit: str, key: str) -> None:
    """For a key the route knows only after reading its body (e.g. the requester)."""
    limiter(request).check(request, limit, key)


def per_address(limit: str) -> params.Depends:
    """A route's dependency: `limit` per client address, checked before the route runs."""

    async def by_address(request: Request) -> None:
        found = limiter(request)
        found.check(request, limit, "address:" + found.address_of(request))

    return params.Depends(by_address)


def install(app: FastAPI, settings: RateLimitSettings, service: str) -> None:
    app.state.rate_limiter = RateLimiter(settings, service)
    app.add_exception_handler(RateLimited, rate_limited)
