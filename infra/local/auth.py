"""What API Gateway's authorizers do in AWS, done locally.

- iam routes: AWS accepts only SigV4-signed calls. Locally a call without Authorization stands
  for a signed integration call (so curl works); `LOYALTY_LOCAL_AUTH=aws` instead asks for the
  header `X-Local-Iam: signed`, so a test can also be anonymous.
- member routes: a Cognito ID token in AWS; locally an RS256 JWT signed by a key made at start,
  handed to the function as the Cognito authorizer does (claims as strings).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local.emulator import ACCOUNT_ID
from infra.local.errors import LocalError
from infra.local.settings import AuthMode

AUDIENCE = "loyalty-local"
ISSUER = "https://cognito-idp.localhost/loyalty-local"  # shaped like a user pool's issuer; never fetched
SIGNED_HEADER = "X-Local-Iam"
INTEGRATION_USER = "local-integration"
MAX_TOKEN_LIFETIME_S = 30 * 86_400

IAM_IDENTITY: dict[str, Any] = {
    "accountId": ACCOUNT_ID,
    "caller": f"AIDALOCAL:{INTEGRATION_USER}",
    "user": f"AIDALOCAL:{INTEGRATION_USER}",
    "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{INTEGRATION_USER}",
    "accessKey": "LOCAL",
}


class AuthError(LocalError):
    """Refused by the gateway before any function runs."""


@dataclass(frozen=True)
class Authorization:
    """What an accepted request adds to requestContext."""

    identity: dict[str, Any]
    authorizer: dict[str, Any] | None


class TokenIssuer:
    """Mints and checks member tokens with a key pair that lives as long as the stack."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def mint(self, member_id: str, program_id: str, expires_in: int, now: float | None = None) -> tuple[str, int]:
        """A token shaped like a Cognito ID token; returns it and its expiry (epoch seconds)."""
        issued = int(now if now is not None else time.time())
        expires = issued + expires_in
        claims = {
            "sub": member_id,
            "cognito:username": member_id,
            "custom:member_id": member_id,
            "custom:program_id": program_id,
            "token_use": "id",
            "aud": AUDIENCE,
            "iss": self.issuer,
            "auth_time": issued,
            "iat": issued,
            "exp": expires,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": "local"}), expires

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises jwt.InvalidTokenError when forged, expired or malformed."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._key.public_key(),
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "sub", "aud"]},
        )
        if claims.get("token_use") != "id":
            raise jwt.InvalidTokenError("not an ID token")
        return claims


def apigateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway's Cognito authorizer passes them: every value a string, times as dates."""

    def as_string(name: str, value: Any) -> str:
        if name in ("exp", "iat"):
            return datetime.fromtimestamp(int(value), UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return {name: as_string(name, value) for name, value in claims.items()}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def authorize(route_auth: str, headers: Mapping[str, str], mode: AuthMode, issuer: TokenIssuer) -> Authorization:
    """Accept or refuse a request for a route with auth `route_auth` ("iam" or "member")."""
    authorization = _header(headers, "Authorization")
    if route_auth == "iam":
        if authorization is not None:
            # API Gateway refuses anything but SigV4 on an IAM-authorised method.
            raise AuthError(403, "forbidden", "This route takes IAM-signed requests only")
        if mode == "aws" and (_header(headers, SIGNED_HEADER) or "").lower() != "signed":
            raise AuthError(403, "forbidden", "Missing IAM signature")
        return Authorization(identity=dict(IAM_IDENTITY), authorizer=None)

    if not authorization:
        raise AuthError(401, "unauthorized", "Unauthorized")
    # The Cognito authorizer reads the raw token; accept the usual "Bearer " prefix as well.
    scheme, _, rest = authorization.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    try:
        claims = issuer.verify(token)
    except jwt.InvalidTokenError as error:
        raise AuthError(401, "unauthorized", "Unauthorized") from error
    return Authorization(identity={}, authorizer={"claims": apigateway_claims(claims)})
