"""Continuous access evaluation (CAE) as MSAL Python clients meet it: cp1 tokens, critical events, nbf challenges.

A client that declares the cp1 capability (MSAL's client_capabilities=["cp1"], sent as the claims request
{"access_token":{"xms_cc":{"values":["cp1"]}}}) gets, for a resource that asks for the xms_cc optional claim
(the Data API, Contoso SQL, and the MCP server do; the Web API does not), a token with xms_cc ["cp1"] that lives
20-28 h instead of 60-90 min. In exchange the resource refuses it as soon as a critical event overtakes it (sessions
revoked, password changed, account disabled or deleted, user risk high): 401 with a claims challenge whose nbf is
the event, which the middle tier relays and the client answers by signing the user in again. The authority refuses
every grant based on a sign-in older than the event (refresh token, OBO assertion) with AADSTS50173,
interaction_required, and the same nbf claims.

Events end the demo users' sessions, which the session instance's other modules rely on, so this module runs its
own `deputy up --tls --test-controls` (conftest.own_instance). The authority's clock is moved 2 s ahead before each
event: a token issued in the event's second counts as issued at it (whole seconds, as in Entra), and the point here
is a token issued before it. Every scenario builds new MSAL objects: MSAL keeps a failed answer for 60 s per app
object, which would hide what the authority says the second time.
"""

import base64
import json
import re
import ssl
import subprocess
import time
import uuid
from datetime import datetime
from urllib.parse import parse_qs, quote, urlsplit

import jwt
import msal
import pytest
import requests

import conftest
import forms

WEB_API_SCOPES = ["api://contoso-expenses-api/access_as_user"]
SQL_SCOPE = "https://database.windows.net//.default"
MCP_SCOPES = ["api://contoso-expenses-mcp/.default"]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MFA_FOR_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
CP1 = ["cp1"]
CAE_LIFETIME = range(72_000, 100_801)  # 20-28 h, in seconds
DEFAULT_LIFETIME = range(3_600, 5_401)  # 60-90 min
# Resources read the authority's event feed at most 1 s late; the allowance is for a busy two-core machine.
FEED_ALLOWANCE = 3.0
MCP_INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test_cae", "version": "1"}}}
ALICES_EXPENSES = {"Train to the customer workshop", "Hotel, one night", "Team lunch"}  # the demo tenant's seed


def capolids_claims(*policy_ids):
    return json.dumps({"access_token": {"capolids": {"essential": True, "values": list(policy_ids)}}})


def nbf_claims(when):
    """The claims request of a CAE challenge: a token not before `when` (unix seconds, a string as Entra sends it)."""
    return {"access_token": {"nbf": {"essential": True, "value": str(int(when))}}}


def lifetime(claims):
    return claims["exp"] - claims["iat"]


def unix(iso):
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def bearer_challenge(response):
    """The parameters of a 401's `WWW-Authenticate: Bearer k="v", ...` header (RFC 6750 §3)."""
    header = response.headers.get("WWW-Authenticate", "")
    assert header.startswith("Bearer "), f"HTTP {response.status_code}, WWW-Authenticate {header!r}: {response.text[:500]}"
    params = dict(re.findall(r'([A-Za-z_]+)="([^"]*)"', header))
    assert params, header
    return params


def challenge_claims(params):
    """The claims request a challenge carries, decoded from base64 (as MSAL's callers pass it on: JSON text)."""
    assert "claims" in params, params
    return json.loads(base64.b64decode(params["claims"]))


def assert_fresh_sign_in_required(result, http, event_time):
    """A grant refused because the sign-in behind it is older than a critical event: Entra's AADSTS50173."""
    posts = [r for r in http.seen if r.request.method == "POST" and "/oauth2/v2.0/token" in r.url]
    assert posts, [(r.request.method, r.url, r.status_code) for r in http.seen]
    assert posts[-1].status_code == 400, f"HTTP {posts[-1].status_code}: {posts[-1].text[:500]}"
    assert "access_token" not in result, result
    assert result.get("error") == "interaction_required", result
    assert 50173 in result.get("error_codes", []), result
    assert result["error_description"].startswith("AADSTS50173:"), result
    assert result.get("suberror") == "bad_token", result
    assert isinstance(result.get("claims"), str), result
    assert json.loads(result["claims"]) == nbf_claims(event_time), result["claims"]


def assert_refused(result, http, error, code):
    posts = [r for r in http.seen if r.request.method == "POST" and "/oauth2/v2.0/token" in r.url]
    assert posts and posts[-1].status_code == 400, [(r.url, r.status_code) for r in posts]
    assert "access_token" not in result, result
    assert result.get("error") == error, result
    assert result.get("error_codes") == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}:"), result


def sent_claims(http):
    """The claims request MSAL sent with its last token request (None without one)."""
    [post] = [r for r in http.seen if r.request.method == "POST" and "/oauth2/v2.0/token" in r.url][-1:]
    values = parse_qs(post.request.body if isinstance(post.request.body, str) else post.request.body.decode()).get("claims")
    return json.loads(values[0]) if values else None


class Cae:
    """This module's deputy up and what the tests do with it."""

    def __init__(self, manifest, data_dir, clock, closing):
        self.manifest = manifest
        self.data_dir = data_dir
        self.clock = clock
        self.closing = closing
        self.totp = conftest.Authenticator(clock)
        self.ca = manifest["caCertificate"]
        self.base = manifest["services"]["authority"].rstrip("/")
        self.graph_base = manifest["graphBaseUrl"].rstrip("/")
        self.port = urlsplit(self.base).port
        discovery = self.http().get(manifest["authority"] + "/v2.0/.well-known/openid-configuration")
        assert discovery.status_code == 200, discovery.text
        self.jwks = jwt.PyJWKClient(discovery.json()["jwks_uri"], ssl_context=ssl.create_default_context(cafile=self.ca),
                                    timeout=5)

    def http(self):
        """A requests.Session that trusts only this instance's CA; every response is kept in `seen`."""
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        s.mount("https://127.0.0.1/", conftest.PortFixAdapter(self.port))
        s.seen = []
        s.hooks["response"].append(lambda r, *a, **k: s.seen.append(r))
        self.closing.append(s)
        return s

    def user(self, key):
        return self.manifest["users"][key]

    def app_id(self, name):
        return self.manifest["applications"][name]["appId"]

    def public(self, name, capabilities=CP1):
        """(a new msal.PublicClientApplication, its session)."""
        http = self.http()
        app = msal.PublicClientApplication(self.app_id(name), authority=self.manifest["authority"], instance_discovery=False,
                                           http_client=http, client_capabilities=capabilities)
        return app, http

    def confidential(self, name, capabilities=CP1):
        """(a new msal.ConfidentialClientApplication with the manifest's secret, its session)."""
        http = self.http()
        registration = self.manifest["applications"][name]
        app = msal.ConfidentialClientApplication(registration["appId"], client_credential=registration["clientSecret"],
                                                 authority=self.manifest["authority"], instance_discovery=False,
                                                 http_client=http, client_capabilities=capabilities)
        return app, http

    def verify(self, token, audience):
        """The claims of a token, its signature, iss, aud and exp checked (leeway: the clock moved ahead)."""
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=self.manifest["issuer"],
                          options={"require": ["exp", "iat", "iss", "aud"]}, leeway=30 + max(0, int(self.clock.offset) + 1))

    def sign_in(self, app, user, scopes, claims=None):
        """An auth-code sign-in with MSAL, its browser part on the sign-in pages: the password, then a verification
        code when the authority asks for one. Returns (MSAL's result, how many code pages were shown)."""
        flow = app.initiate_auth_code_flow(scopes, redirect_uri="http://localhost", claims_challenge=claims,
                                           login_hint=user["userPrincipalName"])
        code_pages = []

        def otc(page):
            code_pages.append(page)
            return self.totp.code(user)

        query = forms.sign_in(self.http(), flow["auth_uri"], user["userPrincipalName"], user["password"], otc=otc)
        assert query["state"] == flow["state"]
        return app.acquire_token_by_auth_code_flow(flow, query), len(code_pages)

    def mfa_web_api_token(self, app, user):
        """The user's Web API token after MFA (the claims of the Data API's MFA policy): the assertion the Web API
        can trade for Contoso SQL."""
        result, code_pages = self.sign_in(app, user, WEB_API_SCOPES, claims=capolids_claims(MFA_FOR_SQL))
        assert "access_token" in result, result
        assert code_pages == 1, "the MFA policy's claims must bring the verification-code page"
        claims = self.verify(result["access_token"], self.app_id("webApi"))
        assert claims["oid"] == user["objectId"], claims
        assert "mfa" in claims["amr"], claims
        return result["access_token"]

    def admin_token(self):
        """An app-only Graph token of the admin app (client credentials)."""
        app, _ = self.confidential("admin", capabilities=None)
        result = app.acquire_token_for_client([GRAPH_SCOPE])
        assert "access_token" in result, result
        return result["access_token"]

    def graph(self, method, path, **kwargs):
        """A Graph request as the admin app, on the authority's origin (`path` starts with /v1.0/)."""
        headers = {"Authorization": f"Bearer {self.admin_token()}", **kwargs.pop("headers", {})}
        return self.http().request(method, self.graph_base + path, headers=headers, **kwargs)

    def sessions_valid_from(self, user_id):
        """The user's signInSessionsValidFromDateTime (Graph), in unix seconds."""
        r = self.graph("GET", f"/v1.0/users/{quote(user_id)}?$select=id,signInSessionsValidFromDateTime")
        assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
        return unix(r.json()["signInSessionsValidFromDateTime"])

    def before_event(self):
        """Moves the authority's clock 2 s on, so every token issued so far is from a second before the next event."""
        self.clock.advance(2)

    def revoke_through_graph(self, user_id):
        """POST /v1.0/users/{id}/revokeSignInSessions as the admin app; returns the event's time (unix seconds)."""
        self.before_event()
        r = self.graph("POST", f"/v1.0/users/{quote(user_id)}/revokeSignInSessions")
        assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
        assert r.json()["value"] is True, r.text
        return self.sessions_valid_from(user_id)

    def cli(self, *args):
        """The stdout of `deputy args... --data-dir <this instance's>`, which must exit 0."""
        cmd = [conftest._deputy_bin(), *args, "--data-dir", str(self.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
                              env=conftest.own_store_env())
        assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def events(self):
        """`deputy user events`: [(sequence, unix time, kind, user)], oldest first."""
        rows = []
        for line in self.cli("user", "events").splitlines():
            words = line.split()
            if len(words) == 4 and words[0].isdigit():
                rows.append((int(words[0]), unix(words[1]), words[2], words[3]))
        return rows

    def get(self, url, token, **kwargs):
        return self.http().get(url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def expenses(self, token):
        """GET {Data API}/expenses with a token."""
        return self.get(self.manifest["services"]["dataApi"].rstrip("/") + "/expenses", token)

    def mcp_initialize(self, token):
        """An MCP initialize request to the MCP server with a token."""
        return self.http().post(self.manifest["services"]["mcpServer"].rstrip("/") + "/mcp", json=MCP_INITIALIZE,
                                headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"})

    def refused_after_event(self, call, token, event_time):
        """Polls `call(token)` until the resource refuses the token, which it must do within FEED_ALLOWANCE
        seconds of the event; returns the 401."""
        deadline = time.monotonic() + FEED_ALLOWANCE
        while True:
            r = call(token)
            if r.status_code != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 401, f"still HTTP {r.status_code} {FEED_ALLOWANCE} s after the event at {event_time}: {r.text[:300]}"
        return r


@pytest.fixture(scope="module")
def cae(tmp_path_factory):
    with conftest.own_instance(tmp_path_factory, "deputy-cae") as (manifest, _, data_dir, clock, closing):
        yield Cae(manifest, data_dir, clock, closing)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cp1_tokens_carry_xms_cc_and_live_a_day_only_for_resources_that_ask_for_it(cae):
    alice, bob = cae.user("alice"), cae.user("bob")
    web_api_id, data_api_id, mcp_id = cae.app_id("webApi"), cae.app_id("dataApi"), cae.app_id("mcpServer")

    # The CLI declares cp1; the Web API does not ask for xms_cc, so its token is an ordinary one.
    cli, _ = cae.public("cli")
    assertion = cae.mfa_web_api_token(cli, alice)
    web_claims = cae.verify(assertion, web_api_id)
    assert "xms_cc" not in web_claims, web_claims
    assert lifetime(web_claims) in DEFAULT_LIFETIME, lifetime(web_claims)

    # The Web API trades it for Contoso SQL with cp1 (MSAL sends the xms_cc claims request): a CAE token.
    web_api, http = cae.confidential("webApi")
    result = web_api.acquire_token_on_behalf_of(assertion, [SQL_SCOPE])
    assert "access_token" in result, result
    assert sent_claims(http) == {"access_token": {"xms_cc": {"values": ["cp1"]}}}, http.seen[-1].request.body
    claims = cae.verify(result["access_token"], data_api_id)
    assert claims["oid"] == alice["objectId"] and claims["azp"] == web_api_id, claims
    assert claims["xms_cc"] == ["cp1"], claims
    assert lifetime(claims) in CAE_LIFETIME, lifetime(claims)
    assert abs(result["expires_in"] - lifetime(claims)) <= 60, (result["expires_in"], lifetime(claims))

    # The same trade without the capability: an hour or so, no xms_cc.
    web_api, http = cae.confidential("webApi", capabilities=None)
    result = web_api.acquire_token_on_behalf_of(assertion, [SQL_SCOPE])
    assert "access_token" in result, result
    assert sent_claims(http) is None, http.seen[-1].request.body
    claims = cae.verify(result["access_token"], data_api_id)
    assert "xms_cc" not in claims, claims
    assert lifetime(claims) in DEFAULT_LIFETIME, lifetime(claims)

    # The MCP server asks for xms_cc too (bob, ROPC on the MCP client app: no MFA policy there).
    for capabilities, expected in ((CP1, CAE_LIFETIME), (None, DEFAULT_LIFETIME)):
        mcp_client, _ = cae.public("mcpClient", capabilities=capabilities)
        result = mcp_client.acquire_token_by_username_password(bob["userPrincipalName"], bob["password"], scopes=MCP_SCOPES)
        assert "access_token" in result, result
        claims = cae.verify(result["access_token"], mcp_id)
        assert claims.get("xms_cc") == capabilities, (capabilities, claims)
        assert lifetime(claims) in expected, (capabilities, lifetime(claims))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_revoked_sessions_make_the_data_api_challenge_the_web_api_relay_and_a_new_sign_in_recover(cae):
    alice = cae.user("alice")
    data_api_id = cae.app_id("dataApi")
    web_api_url = cae.manifest["services"]["webApi"].rstrip("/") + "/api/expenses"

    # 1. alice signs in with MFA on the CLI (cp1); the Web API trades her token for Contoso SQL, with cp1 and without.
    cli, _ = cae.public("cli")
    assertion = cae.mfa_web_api_token(cli, alice)
    web_api, _ = cae.confidential("webApi")
    cae_token = web_api.acquire_token_on_behalf_of(assertion, [SQL_SCOPE])
    assert "access_token" in cae_token and cae.verify(cae_token["access_token"], data_api_id)["xms_cc"] == ["cp1"], cae_token
    cae_token = cae_token["access_token"]
    web_api, _ = cae.confidential("webApi", capabilities=None)
    plain_token = web_api.acquire_token_on_behalf_of(assertion, [SQL_SCOPE])
    assert "access_token" in plain_token, plain_token
    plain_token = plain_token["access_token"]
    for token in (cae_token, plain_token):
        r = cae.expenses(token)
        assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    r = cae.get(web_api_url, assertion)
    assert r.status_code == 200, f"the Web API before the event: HTTP {r.status_code}: {r.text[:500]}"

    # 2. An administrator revokes her sessions through Graph (by UPN), with the admin app's app-only token.
    event_time = cae.revoke_through_graph(alice["userPrincipalName"])
    assert event_time >= cae.verify(assertion, cae.app_id("webApi"))["iat"] + 2, event_time
    [event] = [e for e in cae.events() if e[1] == event_time and e[2] == "sessionsRevoked"]
    assert event[3] == alice["userPrincipalName"], event

    # 3. The Data API reads the event from the authority's feed and refuses the cp1 token with a claims challenge...
    refused = cae.refused_after_event(cae.expenses, cae_token, event_time)
    challenge = bearer_challenge(refused)
    assert challenge["error"] == "insufficient_claims", challenge
    assert challenge["realm"] == "", challenge
    assert challenge["authorization_uri"] == cae.manifest["authority"] + "/oauth2/v2.0/authorize", challenge
    relayed_claims = challenge_claims(challenge)
    assert relayed_claims == nbf_claims(event_time), relayed_claims
    # ...and a token of a client without cp1 as invalid: that client could not answer a challenge.
    r = cae.expenses(plain_token)
    assert r.status_code == 401, f"HTTP {r.status_code}: {r.text[:500]}"
    plain = bearer_challenge(r)
    assert plain["error"] == "invalid_token" and "claims" not in plain, plain

    # 4. The middle tier asks the authority again: the OBO on alice's old token is refused with the same claims,
    #    with or without the claims challenge; that answer is what tells the Web API to relay.
    web_api, http = cae.confidential("webApi")
    result = web_api.acquire_token_on_behalf_of(assertion, [SQL_SCOPE], claims_challenge=json.dumps(relayed_claims))
    assert_fresh_sign_in_required(result, http, event_time)
    assert sent_claims(http) == {"access_token": {**nbf_claims(event_time)["access_token"], "xms_cc": {"values": ["cp1"]}}}
    web_api, http = cae.confidential("webApi")
    assert_fresh_sign_in_required(web_api.acquire_token_on_behalf_of(assertion, [SQL_SCOPE]), http, event_time)

    # 5. The demo Web API relays the challenge to its caller: 401 with the same WWW-Authenticate parameters.
    r = cae.get(web_api_url, assertion)
    assert r.status_code == 401, f"HTTP {r.status_code}: {r.text[:500]}"
    assert bearer_challenge(r) == challenge, (r.headers.get("WWW-Authenticate"), refused.headers.get("WWW-Authenticate"))

    # 6. The client signs alice in again with the relayed claims: a fresh sign-in, after the event.
    cli, _ = cae.public("cli")
    fresh, _ = cae.sign_in(cli, alice, WEB_API_SCOPES, claims=json.dumps(relayed_claims))
    assert "access_token" in fresh, fresh
    fresh_claims = cae.verify(fresh["access_token"], cae.app_id("webApi"))
    assert fresh_claims["iat"] >= event_time, (fresh_claims["iat"], event_time)
    # A sign-in for CAE does not skip Conditional Access: with a password alone (a claims request for nbf asks for
    # no MFA), the Data API's MFA policy still interrupts the trade, and the client answers that challenge too.
    assert fresh_claims["amr"] == ["pwd"], fresh_claims
    web_api, http = cae.confidential("webApi")
    result = web_api.acquire_token_on_behalf_of(fresh["access_token"], [SQL_SCOPE], claims_challenge=json.dumps(relayed_claims))
    assert "access_token" not in result and result.get("error_codes") == [50076], result
    assert json.loads(result["claims"]) == json.loads(capolids_claims(MFA_FOR_SQL)), result
    new_assertion = cae.mfa_web_api_token(cli, alice)

    # 7. The trade with the new assertion and the CAE claims succeeds; the new token opens the Data API again.
    web_api, http = cae.confidential("webApi")
    result = web_api.acquire_token_on_behalf_of(new_assertion, [SQL_SCOPE], claims_challenge=json.dumps(relayed_claims))
    assert "access_token" in result, result
    claims = cae.verify(result["access_token"], data_api_id)
    assert claims["oid"] == alice["objectId"] and claims["xms_cc"] == ["cp1"], claims
    assert claims["iat"] >= event_time and "mfa" in claims["amr"], claims
    r = cae.expenses(result["access_token"])
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    assert ALICES_EXPENSES <= {e["description"] for e in r.json()}, r.json()
    r = cae.get(web_api_url, new_assertion)
    assert r.status_code == 200, f"the Web API after signing in again: HTTP {r.status_code}: {r.text[:500]}"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_refresh_token_from_before_revoke_sign_in_sessions_is_refused_until_the_user_signs_in_again(cae):
    # alice, not bob: bob is a Global Administrator, whose sessions only another signed-in administrator
    # may end (the admin app is refused, as in Entra).
    alice = cae.user("alice")
    cli, http = cae.public("cli")
    signed_in = cli.acquire_token_by_username_password(alice["userPrincipalName"], alice["password"], scopes=WEB_API_SCOPES)
    assert "access_token" in signed_in and signed_in.get("refresh_token"), signed_in
    [account] = cli.get_accounts(username=alice["userPrincipalName"])
    refreshed = cli.acquire_token_silent_with_error(WEB_API_SCOPES, account, force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["token_source"] == "identity_provider", refreshed

    event_time = cae.revoke_through_graph(alice["objectId"])

    # MSAL's silent call redeems the refresh token: refused, with the claims to sign in again with.
    refused = cli.acquire_token_silent_with_error(WEB_API_SCOPES, account, force_refresh=True)
    assert_fresh_sign_in_required(refused, http, event_time)
    # The same with the claims challenge (what a client does after a resource's 401).
    refused = cli.acquire_token_silent_with_error(WEB_API_SCOPES, account, claims_challenge=json.dumps(nbf_claims(event_time)))
    assert_fresh_sign_in_required(refused, http, event_time)
    # Redeemed by another client object, the refresh token is refused all the same.
    other, other_http = cae.public("cli")
    refused = other.acquire_token_by_refresh_token(signed_in["refresh_token"], WEB_API_SCOPES)
    assert_fresh_sign_in_required(refused, other_http, event_time)

    # A new sign-in works, and its refresh token does too, also when asked for a token not before the event.
    cli, http = cae.public("cli")
    again = cli.acquire_token_by_username_password(alice["userPrincipalName"], alice["password"], scopes=WEB_API_SCOPES)
    assert "access_token" in again, again
    assert cae.verify(again["access_token"], cae.app_id("webApi"))["iat"] >= event_time
    [account] = cli.get_accounts(username=alice["userPrincipalName"])
    refreshed = cli.acquire_token_silent_with_error(WEB_API_SCOPES, account, claims_challenge=json.dumps(nbf_claims(event_time)))
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["token_source"] == "identity_provider", refreshed
    assert cae.verify(refreshed["access_token"], cae.app_id("webApi"))["iat"] >= event_time


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_graph_password_change_and_deletion_and_the_cli_revoke_and_disable_end_a_users_refresh_tokens(cae):
    """A user of this test's own, created through Graph: every critical event ends the refresh tokens issued before
    it, and `deputy user events` lists them in order."""
    suffix = uuid.uuid4().hex[:8]
    upn = f"cae-{suffix}@contoso.com"
    passwords = [f"Cae!{suffix}-one", f"Cae!{suffix}-two"]
    r = cae.graph("POST", "/v1.0/users", json={
        "displayName": f"CAE Test {suffix}", "userPrincipalName": upn, "mailNickname": f"cae-{suffix}", "accountEnabled": True,
        "passwordProfile": {"password": passwords[0], "forceChangePasswordNextSignIn": False}})
    assert r.status_code == 201, f"HTTP {r.status_code}: {r.text[:500]}"
    user_id = r.json()["id"]
    deleted = False
    try:
        def sign_in(password):
            app, http = cae.public("cli")
            return app.acquire_token_by_username_password(upn, password, scopes=WEB_API_SCOPES), http

        def redeem(result):
            app, http = cae.public("cli")
            return app.acquire_token_by_refresh_token(result["refresh_token"], WEB_API_SCOPES), http

        first, _ = sign_in(passwords[0])
        assert "refresh_token" in first, first

        # A new password (Graph PATCH passwordProfile): a critical event; the old password is refused too.
        cae.before_event()
        r = cae.graph("PATCH", f"/v1.0/users/{user_id}", json={"passwordProfile": {"password": passwords[1]}})
        assert r.status_code == 204, f"HTTP {r.status_code}: {r.text[:500]}"
        password_changed = cae.sessions_valid_from(user_id)
        assert_fresh_sign_in_required(*redeem(first), password_changed)
        assert_refused(*sign_in(passwords[0]), "invalid_grant", 50126)
        second, _ = sign_in(passwords[1])
        assert "refresh_token" in second, second

        # `deputy user revoke-sessions <upn>`: the CLI's revokeSignInSessions.
        cae.before_event()
        cae.cli("user", "revoke-sessions", upn)
        revoked = cae.sessions_valid_from(user_id)
        assert revoked > password_changed
        assert_fresh_sign_in_required(*redeem(second), revoked)
        third, _ = sign_in(passwords[1])
        assert "refresh_token" in third, third

        # `deputy user disable`: the account is disabled (AADSTS50057); enabling it does not bring back what was
        # issued before (it is no critical event, and the sessions stay ended).
        cae.before_event()
        cae.cli("user", "disable", upn)
        disabled = cae.sessions_valid_from(user_id)
        assert disabled > revoked
        assert_refused(*sign_in(passwords[1]), "invalid_grant", 50057)
        assert_refused(*redeem(third), "invalid_grant", 50057)
        cae.cli("user", "enable", upn)
        assert_fresh_sign_in_required(*redeem(third), disabled)
        fourth, _ = sign_in(passwords[1])
        assert "refresh_token" in fourth, fourth

        # Graph DELETE: the user is gone; their refresh token and password are refused.
        cae.before_event()
        r = cae.graph("DELETE", f"/v1.0/users/{user_id}")
        assert r.status_code == 204, f"HTTP {r.status_code}: {r.text[:500]}"
        deleted = True
        r = cae.graph("GET", f"/v1.0/users/{user_id}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "Request_ResourceNotFound", r.text
        result, http = redeem(fourth)
        assert "access_token" not in result, result
        # Deputy answers AADSTS50057 ("disabled") for a deleted user's refresh token; 50034 (no such user) or
        # 50173 (revoked) would be as fitting, so any of the three is accepted here.
        assert result.get("error") in ("invalid_grant", "interaction_required"), result
        assert result.get("error_codes", [0])[0] in (50034, 50057, 50173), result
        assert_refused(*sign_in(passwords[1]), "invalid_grant", 50034)

        # The event list (the user is deleted, so it names them by object id), oldest first.
        mine = [(when, kind) for _, when, kind, who in cae.events() if who in (user_id, upn)]
        assert [kind for _, kind in mine] == ["passwordChanged", "sessionsRevoked", "userDisabled", "userDeleted"], mine
        assert [when for when, _ in mine][:3] == [password_changed, revoked, disabled], mine
        assert mine[3][0] > disabled, mine
    finally:
        if not deleted:
            cae.graph("DELETE", f"/v1.0/users/{user_id}")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_mcp_server_refuses_a_risky_users_earlier_tokens_and_keeps_serving_other_users(cae):
    alice, bob = cae.user("alice"), cae.user("bob")

    def mcp_token(user, capabilities=CP1):
        app, _ = cae.public("mcpClient", capabilities=capabilities)
        result = app.acquire_token_by_username_password(user["userPrincipalName"], user["password"], scopes=MCP_SCOPES)
        assert "access_token" in result, result
        return app, result

    alice_app, alice_cae = mcp_token(alice)
    _, alice_plain = mcp_token(alice, capabilities=None)
    _, bob_cae = mcp_token(bob)
    for token in (alice_cae, alice_plain, bob_cae):
        r = cae.mcp_initialize(token["access_token"])
        assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"

    # Identity Protection raises alice's risk to high (`deputy user risk`): a critical event for resources.
    cae.before_event()
    cae.cli("user", "risk", alice["userPrincipalName"], "high")
    try:
        [(_, event_time, _, _)] = [e for e in cae.events() if e[2] == "userRiskHigh" and e[3] == alice["userPrincipalName"]][-1:]
        refused = cae.refused_after_event(cae.mcp_initialize, alice_cae["access_token"], event_time)
        challenge = bearer_challenge(refused)
        assert challenge["error"] == "insufficient_claims", challenge
        assert challenge_claims(challenge) == nbf_claims(event_time), challenge
        r = cae.mcp_initialize(alice_plain["access_token"])
        assert r.status_code == 401 and bearer_challenge(r)["error"] == "invalid_token", r.headers
        # Another user's token is none of the event's business.
        r = cae.mcp_initialize(bob_cae["access_token"])
        assert r.status_code == 200, f"bob after alice's event: HTTP {r.status_code}: {r.text[:500]}"

        # A risk change leaves sessions to Conditional Access (no policy here looks at user risk): the authority
        # still redeems alice's refresh token, and the new token, issued after the event, is served.
        [account] = alice_app.get_accounts(username=alice["userPrincipalName"])
        refreshed = alice_app.acquire_token_silent_with_error(MCP_SCOPES, account, force_refresh=True)
        assert refreshed and "access_token" in refreshed, refreshed
        assert cae.verify(refreshed["access_token"], cae.app_id("mcpServer"))["iat"] >= event_time
        r = cae.mcp_initialize(refreshed["access_token"])
        assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    finally:
        cae.cli("user", "risk", alice["userPrincipalName"], "none")
