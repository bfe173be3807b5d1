"""The plain GET endpoints (contract §7): health, discovery, JWKS and /userinfo.

None of them returns roles except 1.x's /userinfo, which returned the whole user.
"""

from __future__ import annotations

from tests.fakes import claimsets
from tests.fakes.claimsets import FakeConfig
from tests.fakes.exchange import Caller, ServiceError
from tests.fakes.service import AuthService
from tests.fakes.wire import GO_TEXT, Reply, gin_json

_PROFILE_CLAIMS = (
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "picture",
    "gender",
    "birthdate",
    "updated_at",
)
_SCOPE_CLAIMS = {
    "profile": _PROFILE_CLAIMS,
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
}
_WWW_AUTHENTICATE = 'Bearer realm="authorizer"'


def health(config: FakeConfig, path: str, *, is_healthy: bool) -> Reply:
    """2.4 JSON (503 when storage is down); 1.x answered `/health` with the text OK."""
    if config.is_legacy:
        return Reply(200, b"OK", GO_TEXT)
    if path == "/readyz":
        if is_healthy:
            return gin_json(200, {"status": "ready"})
        return gin_json(503, {"status": "not ready", "error": "storage unavailable"})
    if is_healthy:
        return gin_json(200, {"status": "ok"})
    return gin_json(503, {"status": "unhealthy", "error": "storage unavailable"})


def discovery(config: FakeConfig, issuer: str) -> Reply:
    """openid-configuration; 2.4 also lists RS256 even on HS and ES servers."""
    algs = [config.alg] if config.is_legacy or config.alg == "RS256" else [config.alg, "RS256"]
    document: dict[str, object] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": [
            "code",
            "token",
            "id_token",
            "code token",
            "code id_token",
            "token id_token",
            "code token id_token",
        ],
        "scopes_supported": ["openid", "email", "profile", "phone", "offline_access"],
        "response_modes_supported": ["query", "fragment", "form_post", "web_message"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "claims_supported": ["aud", "exp", "iss", "iat", "sub", "email", "roles", "role"],
    }
    if config.is_legacy:
        document["registration_endpoint"] = f"{issuer}/app"
        return gin_json(200, document)
    document.update(
        revocation_endpoint=f"{issuer}/oauth/revoke",
        introspection_endpoint=f"{issuer}/oauth/introspect",
        end_session_endpoint=f"{issuer}/logout",
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        code_challenge_methods_supported=["S256"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        claims_parameter_supported=False,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
        backchannel_logout_supported=False,
        backchannel_logout_session_supported=False,
    )
    return gin_json(200, document, ("Cache-Control", "public, max-age=300"))


def jwks(service: AuthService) -> Reply:
    client_id, legacy = service.config.client_id, service.config.is_legacy
    keys = service.key.jwks(client_id, publish_hmac_secret=legacy)
    if service.secondary_key is not None:  # RS/ES only: an HS secondary is never published
        keys += service.secondary_key.jwks(f"{client_id}-secondary", publish_hmac_secret=False)
    return gin_json(200, {"keys": keys})


def userinfo(service: AuthService, caller: Caller) -> Reply:
    """Full stateful Bearer check; 2.4 returns scope-allowed claims and never roles."""
    legacy = service.config.is_legacy
    token = caller.bearer_token()
    if token is None:
        if legacy:
            return gin_json(401, {"error": "unauthorized"})
        body = {"error": "invalid_request", "error_description": "No access token provided"}
        return gin_json(401, body, ("WWW-Authenticate", _WWW_AUTHENTICATE))
    try:
        user, claims = service.access_session(caller, token)
    except ServiceError as exc:
        if legacy:
            return gin_json(401, {"error": exc.message})
        body = {
            "error": "invalid_token",
            "error_description": "The access token is invalid or has expired",
        }
        challenge = f'{_WWW_AUTHENTICATE}, error="invalid_token"'
        return gin_json(401, body, ("WWW-Authenticate", challenge))
    view = claimsets.user_view(user, service.config.dialect)
    if legacy:
        return gin_json(200, view)
    scopes = claims.get("scope")
    info: dict[str, object] = {"sub": user.id}
    for scope in scopes if isinstance(scopes, list) else []:
        for name in _SCOPE_CLAIMS.get(str(scope), ()):
            if view.get(name) not in (None, "", False):
                info[name] = view[name]
    return gin_json(200, info)


LOGIN_PAGE = b"""<!doctype html>
<html><head><title>Authorizer</title></head>
<body><div id="root">fake-authorizer login page (a test double)</div></body></html>
"""


def login_page() -> Reply:
    """`/app` and `/app/*`: the login app's shell. The real one is a single-page app that
    calls the `login` mutation over /graphql (which sets the session cookies) and then sends
    the browser to its `redirect_uri`; tests play that part over HTTP."""
    return Reply(200, LOGIN_PAGE, "text/html; charset=utf-8")
