#!/usr/bin/env python3
"""A small middle tier for `deputy audit`: GET /expenses validates the caller's token, trades it for a
Data API token by On-Behalf-Of and returns the Data API's expenses.

    python3 Interop/audit_targets/middle_tier.py --manifest .deputy/manifest.json --port 8080 [--flaw FLAW]

--flaw none (the default) is the correct tier. The others each break one delegation rule on purpose,
so that the audit has something to catch; everything else they do stays correct:

  passthrough         sends the caller's own token to the Data API instead of the one OBO got
  swallow-challenge   answers a claims challenge or consent required from the token service with a
                      plain 500, so the caller never learns what to do
  no-audience-check   checks signature, issuer and expiry but accepts a token for any audience

References: RFC 6750 §3 (the WWW-Authenticate answers), RFC 8725 (JWT best current practices),
Microsoft Learn "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow" (the OBO request and
its error answers), and "Claims challenges, claims requests and client capabilities" (the relay).

Only the standard library, requests and PyJWT[crypto]. Logs go to stderr and never carry a token.
"""

import argparse
import base64
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import requests

FLAWS = ("none", "passthrough", "swallow-challenge", "no-audience-check")
DOWNSTREAM_SCOPE = "https://database.windows.net//.default"  # the Data API (Contoso SQL), as Entra names it
REQUIRED_SCOPE = "access_as_user"
LEEWAY_SECONDS = 30  # clock skew allowed on exp/nbf ("small leeway", RFC 7519 §4.1.4)
JWKS_REFRESH_SECONDS = 300  # at most one JWKS refetch for an unknown kid per this many seconds
TIMEOUT_SECONDS = 15

log = logging.getLogger("middle_tier")


class Refusal(Exception):
    """An answer to send instead of the expenses: status, JSON body and extra headers."""

    def __init__(self, status, body, headers=None):
        super().__init__(body.get("error", "error"))
        self.status, self.body, self.headers = status, body, headers or {}


class MiddleTier:
    def __init__(self, manifest, app, flaw, clock_offset=0.0):
        self.flaw = flaw
        # How far the authority's clock is ahead of this machine's: deputy up --test-controls can move it
        # (POST /_deputy/test/clock), and its tokens' iat/nbf/exp are in its time, not this machine's.
        self.clock_offset = clock_offset
        self.authority = manifest["authority"].rstrip("/")
        self.issuer = manifest["issuer"]
        self.data_api = manifest["services"]["dataApi"].rstrip("/")
        registration = manifest["applications"][app]
        self.client_id = registration["appId"]
        self.client_secret = registration["clientSecret"]
        # Entra puts the appId in aud for v2 tokens and the identifier URI for v1 ones: accept both, nothing else.
        self.audiences = [a for a in (registration["appId"], registration.get("identifierUri")) if a]
        self.http = requests.Session()
        self.http.trust_env = False  # talk to 127.0.0.1 directly, never through a proxy from the environment
        self.http.verify = manifest.get("caCertificate") or True
        self.token_endpoint = f"{self.authority}/oauth2/v2.0/token"
        self.authorize_endpoint = f"{self.authority}/oauth2/v2.0/authorize"
        self._keys, self._keys_fetched, self._keys_lock = {}, 0.0, threading.Lock()

    # --- the caller's token -------------------------------------------------------------------

    def signing_key(self, kid):
        """The tenant's public key `kid` from the JWKS named by the OpenID configuration (refetched,
        rate-limited, when a kid is unknown: the authority rotates its keys)."""
        with self._keys_lock:
            stale = time.monotonic() - self._keys_fetched > JWKS_REFRESH_SECONDS
            if not self._keys or (kid not in self._keys and stale):
                config = self.http.get(f"{self.authority}/v2.0/.well-known/openid-configuration", timeout=TIMEOUT_SECONDS)
                config.raise_for_status()
                jwks = self.http.get(config.json()["jwks_uri"], timeout=TIMEOUT_SECONDS)
                jwks.raise_for_status()
                self._keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(jwks.json()).keys if k.key_id}
                self._keys_fetched = time.monotonic()
            return self._keys.get(kid)

    def validate(self, token):
        """The caller's claims, or Refusal. RFC 8725 §3.1: the algorithm is pinned to RS256, so `alg: none`
        and HMAC tricks fail; §3.8/§3.9: the issuer and the audience are checked (unless the flaw says not)."""
        invalid = Refusal(401, {"error": "invalid_token", "error_description": "the access token is not valid"},
                          {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # RFC 6750 §3.1
        try:
            key = self.signing_key(jwt.get_unverified_header(token).get("kid"))
            if key is None:
                raise jwt.InvalidTokenError("unknown signing key")
            check_audience = self.flaw != "no-audience-check"  # FLAW no-audience-check: any aud is accepted
            # The times are checked below, against the authority's time (PyJWT only knows this machine's).
            claims = jwt.decode(
                token, key, algorithms=["RS256"], issuer=self.issuer,
                audience=self.audiences if check_audience else None,
                options={"require": ["exp", "iss", "aud"], "verify_aud": check_audience,
                         "verify_exp": False, "verify_nbf": False, "verify_iat": False})
            self.check_times(claims)
        except jwt.InvalidTokenError as e:
            log.info("refused the caller's token: %s", type(e).__name__)
            raise invalid
        if REQUIRED_SCOPE not in str(claims.get("scp", "")).split():
            # A genuine token for this API without the delegated scope (e.g. an app-only token):
            # RFC 6750 §3.1 insufficient_scope, 403.
            log.info("refused the caller's token: no %s in scp", REQUIRED_SCOPE)
            scope = f"{self.audiences[-1]}/{REQUIRED_SCOPE}"
            raise Refusal(403, {"error": "insufficient_scope", "error_description": f"the token needs {scope}"},
                          {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
        return claims

    def check_times(self, claims):
        """exp (required), nbf and iat against the authority's time, as PyJWT checks them against this
        machine's (RFC 7519 §4.1.4-4.1.6, with LEEWAY_SECONDS): this machine's time plus --clock-offset."""
        now = time.time() + self.clock_offset
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if (value is not None or name == "exp") and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise jwt.InvalidTokenError(f"{name} is not a number")
        if claims["exp"] <= now - LEEWAY_SECONDS:
            raise jwt.ExpiredSignatureError("the token has expired")
        if claims.get("nbf", now) > now + LEEWAY_SECONDS or claims.get("iat", now) > now + LEEWAY_SECONDS:
            raise jwt.ImmatureSignatureError("the token is not yet valid")

    # --- On-Behalf-Of -------------------------------------------------------------------------

    def on_behalf_of(self, assertion, correlation_id):
        """A Data API token for the caller's user, from the token service (Microsoft Learn, OBO flow:
        "Middle-tier access token request"). No cache: each call trades the token it was given."""
        headers = {"client-request-id": correlation_id} if correlation_id else {}
        answer = self.http.post(self.token_endpoint, headers=headers, timeout=TIMEOUT_SECONDS, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "assertion": assertion,
            "scope": DOWNSTREAM_SCOPE,
            "requested_token_use": "on_behalf_of",
        })
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code == 200 and body.get("access_token"):
            return body["access_token"]
        raise self.obo_refusal(answer.status_code, body if isinstance(body, dict) else {})

    def obo_refusal(self, status, error):
        """What the caller hears when the token service refused the OBO (Microsoft Learn, OBO flow:
        "Error response example" — a Conditional Access claims challenge must reach the client, which
        signs in again with those claims; consent must be granted by the user or an administrator)."""
        codes = error.get("error_codes") if isinstance(error.get("error_codes"), list) else []
        log.info("OBO refused: HTTP %s %s %s suberror=%s claims=%s", status, error.get("error"), codes,
                 error.get("suberror"), "yes" if error.get("claims") else "no")
        claims = error.get("claims") if isinstance(error.get("claims"), str) else None
        # The order matters: Entra's block (AADSTS53003, suberror message_only) carries a `claims` member
        # naming the blocking policy, but no sign-in can satisfy it, so it must not become a challenge
        # the client would loop on. Consent is checked first too (MSAL's rule: 65001 / consent_required).
        consent = 65001 in codes or "consent_required" in (error.get("error"), error.get("suberror"))
        blocked = 53003 in codes
        if (consent or (claims and not blocked)) and self.flaw == "swallow-challenge":
            # FLAW swallow-challenge: the caller gets a plain server error and cannot consent or step up.
            return Refusal(500, {"error": "something went wrong"})
        if consent:
            return Refusal(403, {"error": "consent_required", "error_description":
                                 "the user or an administrator must consent to this API calling the Data API"})
        if blocked:
            return Refusal(403, {"error": "access_blocked",
                                 "error_description": "a Conditional Access policy blocks this access"})
        if claims:
            # Relay the challenge unchanged: base64 of the claims JSON exactly as received in the header
            # (RFC 6750 §3 auth-params; the form of Microsoft Learn's "Claims challenges, claims requests and
            # client capabilities"), the JSON text itself in the body. The client signs in again with it.
            encoded = base64.b64encode(claims.encode("utf-8")).decode("ascii")
            header = (f'Bearer error="insufficient_claims", claims="{encoded}", '
                      f'authorization_uri="{self.authorize_endpoint}"')
            return Refusal(401, {"error": "insufficient_claims", "claims": claims}, {"WWW-Authenticate": header})
        # Anything else: a fixed message, never the upstream text (it may quote what it was sent).
        return Refusal(502, {"error": "upstream_error", "error_description": "the token service refused the request"})

    # --- the request ----------------------------------------------------------------------------

    def expenses(self, authorization, correlation_id):
        """(status, JSON body, headers) for GET /expenses."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            # No credentials: RFC 6750 §3.1 says no error code, just the scheme.
            raise Refusal(401, {"error": "unauthorized", "error_description": "a bearer token is required"},
                          {"WWW-Authenticate": "Bearer"})
        self.validate(token)
        # The user's token is never passed on: OBO gets one whose audience is the Data API.
        downstream_token = self.on_behalf_of(token, correlation_id)
        if self.flaw == "passthrough":
            # FLAW passthrough: the caller's token (audience: this API) goes to the Data API as it is. The OBO
            # above still runs, so claims challenges and consent are relayed as by the correct tier and only
            # the no-passthrough rule (and with it obo-downstream) breaks.
            downstream_token = token
        headers = {"Authorization": f"Bearer {downstream_token}", "Accept": "application/json"}
        if correlation_id:
            headers["client-request-id"] = correlation_id
        answer = self.http.get(f"{self.data_api}/expenses", headers=headers, timeout=TIMEOUT_SECONDS)
        log.info("Data API answered %s", answer.status_code)
        try:
            body = answer.json()
        except ValueError:
            raise Refusal(502, {"error": "upstream_error", "error_description": "the Data API did not answer JSON"})
        if any(t in answer.text for t in (token, downstream_token)):
            raise Refusal(502, {"error": "upstream_error", "error_description": "the Data API's answer was withheld"})
        if answer.status_code == 401:
            # The Data API refused *our* token. A 401 to the caller would tell it that its own token is bad
            # (RFC 6750 §3.1) and the Data API's WWW-Authenticate is about a token the caller never saw.
            raise Refusal(502, {"error": "upstream_error", "error_description": "the Data API refused this API's token"})
        return answer.status_code, body, {}


def make_handler(tier):
    class Handler(BaseHTTPRequestHandler):
        def version_string(self):
            return "deputy-audit-target"

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/health":
                return self.reply(200, b"ok", "text/plain")
            if path != "/expenses":
                return self.reply_json(404, {"error": "not_found"})
            correlation_id = self.headers.get("client-request-id")
            try:
                status, body, headers = tier.expenses(self.headers.get("Authorization"), correlation_id)
            except Refusal as r:
                status, body, headers = r.status, r.body, r.headers
            except requests.RequestException as e:
                log.warning("upstream unreachable: %s", type(e).__name__)
                status, body, headers = 502, {"error": "upstream_unreachable"}, {}
            except Exception as e:  # noqa: BLE001 — the type only: a message could quote a token
                log.error("internal error: %s", type(e).__name__)
                status, body, headers = 500, {"error": "internal_error"}, {}
            self.reply_json(status, body, headers)

        def reply_json(self, status, body, headers=None):
            self.reply(status, json.dumps(body).encode("utf-8"), "application/json", headers)

        def reply(self, status, data, content_type, headers=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            # The request line and status only: no headers, so never the Authorization header.
            log.info("%s %s", self.address_string(), fmt % args)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="deputy up's manifest.json")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1 only)")
    parser.add_argument("--flaw", choices=FLAWS, default="none", help="a deliberate defect (default: none)")
    parser.add_argument("--app", default="auditTarget", help="the manifest application this tier is (default: auditTarget)")
    parser.add_argument("--clock-offset", type=float, default=0.0, metavar="SECONDS",
                        help="how far the authority's clock is ahead of this machine's, when deputy up --test-controls "
                             "moved it; token times are checked against this machine's time plus it (default: 0)")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s middle_tier: %(message)s")

    with open(args.manifest) as f:
        manifest = json.load(f)
    if args.app not in manifest.get("applications", {}):
        parser.error(f"the manifest has no applications.{args.app} (is deputy up new enough?)")
    tier = MiddleTier(manifest, args.app, args.flaw, args.clock_offset)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(tier))
    log.info("listening on http://127.0.0.1:%d/expenses as %s (flaw: %s)", args.port, args.app, args.flaw)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
