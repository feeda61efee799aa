"""NetSuite authentication: token-based (OAuth 1.0a, HMAC-SHA256) or OAuth 2.0 client
credentials with a signed JWT assertion. The client picks one from its credentials."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import requests
from requests.auth import AuthBase
from requests_oauthlib import OAuth1

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "rest_webservices"
ASSERTION_LIFETIME = 300  # NetSuite allows up to 3600; short limits replay of a leaked assertion
ALGORITHMS = ("PS256", "ES256")


def realm_for(account_id: str) -> str:
    """The TBA realm: the account id in canonical upper case (1234567_SB1)."""
    return account_id.strip().upper().replace("-", "_")


def tba_auth(
    account_id: str, consumer_key: str, consumer_secret: str, token_id: str, token_secret: str
) -> OAuth1:
    """The auth of every request of a TBA connection: HMAC-SHA256 in the Authorization header,
    with the account's realm. Each request gets a fresh timestamp and nonce; oauthlib draws
    the nonce (64 bits, with the timestamp) from the operating system's random source, which
    a forked queue worker does not share with its siblings, so workers signing with the same
    token never send the same nonce twice (NetSuite refuses one it has seen)."""
    return OAuth1(
        consumer_key,
        client_secret=consumer_secret,
        resource_owner_key=token_id,
        resource_owner_secret=token_secret,
        signature_method="HMAC-SHA256",
        realm=realm_for(account_id),
    )


def build_assertion(
    *,
    client_id: str,
    certificate_id: str,
    private_key_pem: str,
    token_url: str,
    algorithm: str = "PS256",
    now: float | None = None,
    lifetime: int = ASSERTION_LIFETIME,
) -> str:
    """A client assertion JWT as NetSuite's client credentials flow expects it."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"NetSuite accepts {ALGORITHMS} for client assertions, not {algorithm}")
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": client_id,
        "scope": SCOPE,
        "aud": token_url,
        "iat": issued,
        "exp": issued + min(lifetime, 3600),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key_pem, algorithm=algorithm, headers={"kid": certificate_id})


class OAuth2TokenSource(AuthBase):
    """The bearer token of every request: fetched, cached and renewed before it expires;
    thread-safe, one grant at a time.

    `fetch` posts the form to the token endpoint and returns the decoded JSON answer; it is
    given by the client so the call goes through its transport (retries, counting)."""

    def __init__(
        self,
        *,
        client_id: str,
        certificate_id: str,
        private_key_pem: str,
        token_url: str,
        fetch: Callable[[dict[str, str]], dict[str, Any]],
        algorithm: str = "PS256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.certificate_id = certificate_id
        self._private_key_pem = private_key_pem
        self.token_url = token_url
        self.algorithm = algorithm
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"<OAuth2TokenSource client_id={self.client_id!r} kid={self.certificate_id!r}>"

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._grant()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still `token`, when given)."""
        with self._lock:
            if token is None or token == self._token:
                self._token = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def _grant(self) -> None:
        assertion = build_assertion(
            client_id=self.client_id,
            certificate_id=self.certificate_id,
            private_key_pem=self._private_key_pem,
            token_url=self.token_url,
            algorithm=self.algorithm,
            now=self._clock(),
        )
        started = self._clock()
        answer = self._fetch(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
            }
        )
        try:
            expires_in = float(answer.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
        # Renew a little early so a token never expires in flight; the margin scales down for
        # short-lived tokens (a sandbox configured with a ttl of seconds).
        margin = min(60.0, expires_in * 0.1)
        self._token = str(answer["access_token"])
        self._expires_at = started + expires_in
        self._refresh_at = self._expires_at - margin
