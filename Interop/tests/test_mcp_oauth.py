"""The official Python MCP SDK's OAuth client (mcp 2.3.0, `mcp.client.auth.OAuthClientProvider`, unmodified) signs
in against the authority and calls the MCP server's tools, in both of Deputy's authorization modes.

The client is the demo tenant's pre-registered public client (`applications.mcpClient`: no secret, loopback redirect
URIs on any port). The provider discovers everything itself: the MCP server's 401 names its RFC 9728 metadata, which
names the tenant's v2.0 issuer, whose RFC 8414 metadata it reads at the inserted path. A person's part (the browser)
is played by a headless redirect/callback handler: it walks the sign-in pages (password, verification code,
consent) with the forms helpers and reads the code from the 302 to the redirect URI, which is never contacted.

The tools reach the Data API by On-Behalf-Of, which the tenant's Conditional Access policy "Require MFA for Contoso
SQL" refuses without MFA; the SDK cannot answer an Entra claims challenge, so the handler asks for that policy
(`claims` with `capolids`) in the authorize URL it is given, and the sign-in asks for the verification code.

- Entra mode (the session's `deputy up`): no `iss` in the redirect, the token's `aud` is the MCP server's appId.
- MCP spec mode (a second `deputy up --mcp-spec` for this module): `iss` in every authorization response, PKCE S256
  required, the token's `aud` is exactly the `resource` the client named (the MCP URL). There the SDK can also sign
  in as a client named by its Client ID Metadata Document (an https URL this module serves), registered nowhere.
"""

import asyncio
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import httpx2
import jwt
import pytest
import requests
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata

import conftest
import forms

TOOLS = ["list_expenses", "get_expense", "submit_expense", "approve_expense", "delete_expense"]
ALICES_EXPENSES = {"Train to the customer workshop", "Hotel, one night", "Team lunch"}  # the demo tenant's seed
READ_WRITE = "api://contoso-expenses-mcp/Expenses.ReadWrite"
APPROVE = "api://contoso-expenses-mcp/Expenses.Approve"
MFA_FOR_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"  # Conditional Access "Require MFA for Contoso SQL"
APPROVAL_CONTEXT = "c1"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # a registered loopback URI (any port); never contacted
MODERN = "2026-07-28"


# --- the client side -------------------------------------------------------------------------------

class MemoryStorage(TokenStorage):
    """Token storage in memory; starts with the pre-registered client's record, so the provider registers nothing."""

    def __init__(self, client_info):
        self.tokens, self.client_info = None, client_info

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def claims_request(scope):
    """The claims the handler adds to an authorize URL: the MFA policy of the tools' OBO, and for a scope with
    Expenses.Approve also the authentication context approving requires."""
    token = {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}}
    if APPROVE in scope.split():
        token["acrs"] = {"essential": True, "value": APPROVAL_CONTEXT}
    return json.dumps({"access_token": token}, separators=(",", ":"))


class HeadlessBrowser:
    """The provider's redirect_handler and callback_handler: a person who signs in as `user`.

    authorize_urls  each URL the provider handed over (before the claims parameter was added)
    redirects       the query of each redirect back to REDIRECT_URI (code, state, iss, ...)
    pages           for each sign-in, the pages filled in ("password", "code", "consent")
    """

    def __init__(self, user, http_session, otc):
        self.user, self.http_session, self.otc = user, http_session, otc
        self.authorize_urls, self.redirects, self.pages = [], [], []

    async def redirect_handler(self, url):
        self.authorize_urls.append(url)

    async def callback_handler(self):
        url = self.authorize_urls[-1]
        scope = params(url).get("scope", "")
        signed_in = url + "&claims=" + quote(claims_request(scope), safe="")
        query, pages = await asyncio.to_thread(sign_in_accepting_consent, self.http_session(), signed_in, self.user, self.otc)
        self.redirects.append(query)
        self.pages.append(pages)
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


def sign_in_accepting_consent(http, authorize_url, user, otc):
    """forms.sign_in's walk, which also accepts a consent page (its Accept button, decision=accept, is a <button> the
    form helpers do not send). Returns (the redirect's query, the kinds of pages filled in)."""
    redirect_uri = params(authorize_url)["redirect_uri"]
    fields = {"username": user["userPrincipalName"], "password": user["password"], "otc": lambda page: otc(user)}
    with http:  # a browser closed afterwards: no connection is left open to the authority
        response = http.get(authorize_url, allow_redirects=False)
        pages = []
        for _ in range(forms.MAX_STEPS):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(redirect_uri):
                    return params(location), pages
                response = http.get(location, allow_redirects=False)
                continue
            form = forms.first_form(response)
            action = urljoin(response.url, form.action or response.url)
            if urlsplit(action).path.endswith("/consent"):
                kind = "consent"
                response = http.post(action, data=form.values() | {"decision": "accept"}, allow_redirects=False)
            else:
                asked = form.visible_names() & fields.keys()
                kind = "code" if "otc" in asked else "password" if "password" in asked else "other"
                assert asked and kind not in pages, f"asked again for {sorted(asked)} after {pages}:\n{forms.describe(response)}"
                response = forms.submit_form(http, response, fields)
            pages.append(kind)
    raise AssertionError(f"no redirect to {redirect_uri} after {forms.MAX_STEPS} pages; last one:\n{forms.describe(response)}")


@dataclass
class Exchange:
    """One HTTP exchange of the provider's httpx2 client (the MCP requests and the provider's own)."""
    method: str
    url: str
    headers: dict
    body: bytes
    status: int | None = None
    response_headers: dict = field(default_factory=dict)


class Recorder:
    """httpx2 event hooks that keep every request the client sends and the status of its answer."""

    def __init__(self):
        self.exchanges = []

    async def on_request(self, request):
        try:
            body = request.content
        except httpx2.RequestNotRead:
            body = b""
        self.exchanges.append(Exchange(request.method, str(request.url), dict(request.headers), body))

    async def on_response(self, response):
        for exchange in reversed(self.exchanges):
            if exchange.status is None and exchange.url == str(response.request.url) and exchange.method == response.request.method:
                exchange.status = response.status_code
                exchange.response_headers = dict(response.headers)
                break

    def hooks(self):
        return {"request": [self.on_request], "response": [self.on_response]}

    def to(self, path, method=None):
        return [e for e in self.exchanges if urlsplit(e.url).path == path and method in (None, e.method)]

    def summary(self):
        return "\n".join(f"{e.method} {e.url} -> {e.status}" for e in self.exchanges)


@dataclass
class Run:
    """What one signed-in MCP session left behind."""
    value: object
    browser: HeadlessBrowser
    recorder: Recorder
    storage: MemoryStorage


def params(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def mcp_client_registration(deputy):
    registration = deputy["applications"]["mcpClient"]
    assert registration["clientSecret"] is None, registration
    assert "http://127.0.0.1/callback" in registration["redirectUris"], registration
    return OAuthClientInformationFull(client_id=registration["appId"], token_endpoint_auth_method="none",
                                      redirect_uris=[REDIRECT_URI])


def run_signed_in(deputy, mcp_url, tls, user, http_session, otc, body, mode="auto", client_metadata_url=None):
    """Runs `await body(client)` in an MCP Client whose httpx2 client carries the SDK's OAuthClientProvider.

    The client is the pre-registered public client; with `client_metadata_url` it is instead the client that URL's
    Client ID Metadata Document describes: the storage starts empty and the provider sends the URL as client_id.
    """
    browser = HeadlessBrowser(user, http_session, otc)
    storage = MemoryStorage(None if client_metadata_url else mcp_client_registration(deputy))
    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(redirect_uris=[REDIRECT_URI], token_endpoint_auth_method="none",
                                            client_name="Deputy interop (Python MCP SDK)"),
        storage=storage, redirect_handler=browser.redirect_handler, callback_handler=browser.callback_handler,
        client_metadata_url=client_metadata_url)
    recorder = Recorder()

    async def main():
        async with httpx2.AsyncClient(auth=provider, verify=tls, trust_env=False, timeout=30,
                                      event_hooks=recorder.hooks()) as http:
            async with Client(streamable_http_client(mcp_url, http_client=http), mode=mode) as client:
                return await body(client)

    try:
        value = asyncio.run(main())
    except Exception as e:
        raise AssertionError(f"the MCP client failed: {e!r}\n--- requests ---\n{recorder.summary()}\n"
                             f"--- authorize URLs ---\n" + "\n".join(browser.authorize_urls)) from e
    return Run(value, browser, recorder, storage)


def list_and_call(client):
    async def go():
        return await client.list_tools(), await client.call_tool("list_expenses", {})
    return go()


def alices_rows(result, alice):
    assert result.is_error is False, result
    assert result.content and result.content[0].type == "text", result
    rows = json.loads(result.content[0].text)
    assert {row["description"] for row in rows if row["ownerOid"] == alice["objectId"]} >= ALICES_EXPENSES, rows
    return rows


def bearer_params(header):
    """The parameters of a `Bearer k="v", …` challenge (values without quotes; no commas inside values here)."""
    assert header.startswith("Bearer "), header
    out = {}
    for part in header[len("Bearer "):].split(","):
        key, _, value = part.strip().partition("=")
        out[key.strip().lower()] = value.strip().strip('"')
    return out


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mcp_url(deputy):
    return deputy["services"]["mcpServer"].rstrip("/") + "/mcp"


@pytest.fixture(scope="module")
def tls(ca):
    return ssl.create_default_context(cafile=ca)


@dataclass
class Instance:
    """A second `deputy up` run by this module."""
    manifest: dict
    ca: str
    tls: ssl.SSLContext
    mcp_url: str
    totp: conftest.Authenticator

    def session(self):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        return s


@pytest.fixture(scope="module")
def spec_mode(tmp_path_factory):
    """`deputy up --tls --test-controls --mcp-spec` on its own port block and data directory, for this module."""
    with conftest.own_instance(tmp_path_factory, "deputy-mcp-spec", "--mcp-spec") as (manifest, _, _, clock, _):
        ca = manifest["caCertificate"]
        yield Instance(manifest, ca, ssl.create_default_context(cafile=ca),
                       manifest["services"]["mcpServer"].rstrip("/") + "/mcp", conftest.Authenticator(clock))


class ClientMetadataDocuments:
    """A small HTTPS server on 127.0.0.1 that publishes JSON documents at paths, with the spec-mode instance's
    server certificate (issued by its CA, which its authority trusts). It keeps the path of every GET it answered.

    url(path)           the https URL of a path
    publish(path, doc)  serve `doc` (JSON) at `path`
    fetches(path)       how many times `path` was fetched
    """

    def __init__(self, certfile, keyfile):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self.documents, self.requests, self.lock = {}, [], threading.Lock()
        documents = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with documents.lock:
                    documents.requests.append((self.path, dict(self.headers)))
                    doc = documents.documents.get(self.path)
                body = json.dumps(doc).encode() if doc is not None else b'{"error":"not found"}'
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")  # every sign-in fetches it again
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                # The TLS handshake happens in the request's thread, not in the accept loop.
                request.settimeout(10)
                with context.wrap_socket(request, server_side=True) as tls:
                    Handler(tls, client_address, self)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.origin = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="client-metadata-documents", daemon=True)
        self.thread.start()

    def url(self, path):
        return self.origin + path

    def publish(self, path, doc):
        with self.lock:
            self.documents[path] = doc

    def fetches(self, path):
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def client_metadata_documents(spec_mode):
    """ClientMetadataDocuments served with tls/server.pem and tls/server-key.pem of the spec-mode instance."""
    tls_dir = Path(spec_mode.ca).parent
    documents = ClientMetadataDocuments(str(tls_dir / "server.pem"), str(tls_dir / "server-key.pem"))
    try:
        yield documents
    finally:
        documents.stop()


# --- Entra mode ------------------------------------------------------------------------------------

def test_in_entra_mode_the_sdk_signs_alice_in_with_the_pre_registered_public_client_and_lists_her_expenses(
        deputy, mcp_url, tls, session, totp, verify_jwt):
    alice = deputy["users"]["alice"]
    run = run_signed_in(deputy, mcp_url, tls, alice, session, totp.code, list_and_call)
    listed, result = run.value
    assert [tool.name for tool in listed.tools] == TOOLS
    alices_rows(result, alice)

    # One sign-in, with PKCE S256, the RFC 8707 resource and the scope the MCP server's 401 named.
    [authorize] = run.browser.authorize_urls
    sent = params(authorize)
    assert sent["client_id"] == deputy["applications"]["mcpClient"]["appId"], sent
    assert sent["code_challenge_method"] == "S256" and sent.get("code_challenge"), sent
    assert sent["resource"] == mcp_url, sent
    assert READ_WRITE in sent["scope"].split(), sent

    # The AS metadata came from the RFC 8414 inserted path of the v2.0 issuer, the first URL the SDK tries.
    tenant = deputy["tenantId"]
    fetched = run.recorder.to(f"/.well-known/oauth-authorization-server/{tenant}/v2.0", "GET")
    assert [e.status for e in fetched] == [200], run.recorder.summary()
    assert urlsplit(fetched[0].url).netloc == urlsplit(deputy["services"]["authority"]).netloc, fetched[0].url

    # The sign-in asked for the password, then (the claims request) the verification code, then consent
    # (prompt=consent, which the SDK adds with offline_access); Entra puts no iss in the authorization response.
    assert run.browser.pages == [["password", "code", "consent"]], run.browser.pages
    [redirect] = run.browser.redirects
    assert "iss" not in redirect, redirect

    # The token the provider keeps is for the MCP server's app (its appId as aud), issued to the MCP client.
    token = run.storage.tokens.access_token
    claims = verify_jwt(token, deputy["applications"]["mcpServer"]["appId"])
    assert claims["azp"] == deputy["applications"]["mcpClient"]["appId"], claims
    assert "Expenses.ReadWrite" in claims["scp"].split(), claims
    assert claims["oid"] == alice["objectId"], claims
    assert "mfa" in claims.get("amr", []), claims

    # The token request was a public client's: the code verifier, no secret.
    [token_request] = run.recorder.to(urlsplit(deputy["authority"]).path + "/oauth2/v2.0/token", "POST")
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["authorization_code"] and form.get("code_verifier"), form
    assert "client_secret" not in form and "authorization" not in token_request.headers, token_request


def test_in_entra_mode_the_sdk_in_the_legacy_era_signs_in_and_lists_the_tools(deputy, mcp_url, tls, session, totp):
    alice = deputy["users"]["alice"]

    async def body(client):
        return client.protocol_version, await client.list_tools()

    run = run_signed_in(deputy, mcp_url, tls, alice, session, totp.code, body, mode="legacy")
    version, listed = run.value
    assert [tool.name for tool in listed.tools] == TOOLS
    assert version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"), version
    assert len(run.browser.authorize_urls) == 1, run.browser.authorize_urls
    # The legacy handshake: an initialize POST, no server/discover.
    posts = [json.loads(e.body) for e in run.recorder.to(urlsplit(mcp_url).path, "POST") if e.body]
    methods = [p.get("method") for p in posts]
    assert "initialize" in methods and "server/discover" not in methods, methods


def test_in_the_default_mode_the_sdk_negotiates_mcp_2026_07_28_with_the_mcp_server(deputy, mcp_url, tls, session, totp):
    alice = deputy["users"]["alice"]

    async def body(client):
        return client.protocol_version, await client.list_tools()

    run = run_signed_in(deputy, mcp_url, tls, alice, session, totp.code, body)
    version, listed = run.value
    assert [tool.name for tool in listed.tools] == TOOLS
    assert version == MODERN, f"negotiated {version}; requests:\n{run.recorder.summary()}"


def test_approving_steps_bob_up_from_the_baseline_scope_to_expenses_approve_with_one_more_sign_in(
        deputy, mcp_url, tls, session, totp, verify_jwt):
    alice, bob = deputy["users"]["alice"], deputy["users"]["bob"]

    async def body(client):
        listed = await client.call_tool("list_expenses", {})
        assert listed.is_error is False, listed
        rows = json.loads(listed.content[0].text)
        submitted = [r for r in rows if r["ownerOid"] == alice["objectId"] and r["status"] == "submitted"]
        assert submitted, f"bob sees no submitted expense of alice's to approve: {rows}"
        expense = submitted[0]["id"]
        return expense, await client.call_tool("approve_expense", {"id": expense})

    run = run_signed_in(deputy, mcp_url, tls, bob, session, totp.code, body)
    expense, approved = run.value

    # First sign-in: only the scope the MCP server's 401 (and its metadata) names.
    first, second = run.browser.authorize_urls  # exactly two sign-ins
    assert READ_WRITE in params(first)["scope"].split() and APPROVE not in params(first)["scope"].split(), first

    # approve_expense with that token: 403 insufficient_scope naming both scopes (SEP-2350).
    refused = [e for e in run.recorder.to(urlsplit(mcp_url).path, "POST") if e.status == 403]
    assert len(refused) == 1, run.recorder.summary()
    challenge = bearer_params(refused[0].response_headers["www-authenticate"])
    assert challenge["error"] == "insufficient_scope", challenge
    assert set(challenge["scope"].split()) == {READ_WRITE, APPROVE}, challenge
    assert b"approve_expense" in refused[0].body, refused[0].body

    # The provider's step-up asks for the union, and the second token carries both scopes and the context c1.
    assert {READ_WRITE, APPROVE} <= set(params(second)["scope"].split()), second
    assert params(second)["resource"] == mcp_url, second
    assert [pages[:2] for pages in run.browser.pages] == [["password", "code"]] * 2, run.browser.pages
    claims = verify_jwt(run.storage.tokens.access_token, deputy["applications"]["mcpServer"]["appId"])
    assert {"Expenses.ReadWrite", "Expenses.Approve"} <= set(claims["scp"].split()), claims
    assert APPROVAL_CONTEXT in claims.get("acrs", []), claims
    assert claims["oid"] == bob["objectId"], claims

    # ... and the retried call approved alice's expense.
    assert approved.is_error is False, approved
    row = json.loads(approved.content[0].text)
    assert row["id"] == expense and row["status"] == "approved" and row["approverOid"] == bob["objectId"], row


def test_the_mcp_servers_resource_metadata_and_the_authoritys_metadata_are_where_the_sdk_looks_for_them(
        deputy, mcp_url, tls, discovery):
    origin = deputy["services"]["mcpServer"].rstrip("/")
    with httpx2.Client(verify=tls, trust_env=False, timeout=10) as http:
        # RFC 9728 at the path-inserted URL and at the root: the same document.
        documents = {}
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            r = http.get(origin + path)
            assert r.status_code == 200, f"GET {path}: HTTP {r.status_code}: {r.text[:500]}"
            documents[path] = r.json()
        inserted, root = documents.values()
        assert inserted == root, documents
        assert inserted["resource"] == mcp_url, inserted
        assert inserted["authorization_servers"] == [discovery["issuer"]], inserted
        assert inserted["scopes_supported"] == [READ_WRITE], inserted

        # No token: 401 naming that document and the baseline scope.
        r = http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                      headers={"Accept": "application/json, text/event-stream"})
        assert r.status_code == 401, f"HTTP {r.status_code}: {r.text[:500]}"
        challenge = r.headers["www-authenticate"]
        assert f'resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"' in challenge, challenge
        assert f'scope="{READ_WRITE}"' in challenge, challenge

        # RFC 8414: the three URLs the SDK tries for the issuer, in its order; one document, one issuer.
        issuer = urlsplit(discovery["issuer"])
        authority = f"{issuer.scheme}://{issuer.netloc}"
        urls = [f"{authority}/.well-known/oauth-authorization-server{issuer.path}",
                f"{authority}/.well-known/openid-configuration{issuer.path}",
                f"{discovery['issuer']}/.well-known/openid-configuration"]
        answers = []
        for url in urls:
            r = http.get(url)
            assert r.status_code == 200, f"GET {url}: HTTP {r.status_code}: {r.text[:500]}"
            answers.append(r.json())
        assert all(a == answers[0] for a in answers), answers
        assert answers[0]["issuer"] == discovery["issuer"] == deputy["issuer"], answers[0]
        # Entra mode: no RFC 9207 advertised (the SDK would then demand iss in every redirect).
        assert "authorization_response_iss_parameter_supported" not in answers[0], answers[0]


# --- MCP spec mode ---------------------------------------------------------------------------------

def test_in_mcp_spec_mode_the_sdk_signs_in_with_iss_in_the_redirect_and_a_token_for_the_mcp_url(spec_mode):
    manifest, mcp_url = spec_mode.manifest, spec_mode.mcp_url
    alice = manifest["users"]["alice"]

    with httpx2.Client(verify=spec_mode.tls, trust_env=False, timeout=10) as http:
        issuer = manifest["issuer"]
        path = urlsplit(issuer).path
        metadata = http.get(f"{manifest['services']['authority'].rstrip('/')}/.well-known/oauth-authorization-server{path}").json()
    assert metadata["issuer"] == issuer, metadata
    assert metadata.get("authorization_response_iss_parameter_supported") is True, metadata
    assert metadata.get("client_id_metadata_document_supported") is True, metadata
    assert metadata.get("code_challenge_methods_supported") == ["S256"], metadata

    run = run_signed_in(manifest, mcp_url, spec_mode.tls, alice, spec_mode.session, spec_mode.totp.code, list_and_call)
    listed, result = run.value
    assert [tool.name for tool in listed.tools] == TOOLS
    alices_rows(result, alice)

    [authorize] = run.browser.authorize_urls
    assert params(authorize)["resource"] == mcp_url, authorize
    [redirect] = run.browser.redirects
    assert redirect.get("iss") == issuer, redirect
    [token_request] = run.recorder.to(urlsplit(metadata["token_endpoint"]).path, "POST")
    assert parse_qs(token_request.body.decode())["resource"] == [mcp_url], token_request.body

    # aud is exactly the resource the client named, verified against this instance's keys.
    token = run.storage.tokens.access_token
    jwks = jwt.PyJWKClient(metadata["jwks_uri"], ssl_context=spec_mode.tls, timeout=5)
    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token), algorithms=["RS256"], audience=mcp_url,
                        issuer=issuer, options={"require": ["exp", "iat", "iss", "aud"]},
                        leeway=30 + max(0, int(spec_mode.totp.clock.offset) + 1))
    assert claims["aud"] == mcp_url, claims
    assert claims["azp"] == manifest["applications"]["mcpClient"]["appId"], claims
    assert "mfa" in claims.get("amr", []), claims


def test_in_mcp_spec_mode_an_authorize_request_without_pkce_is_sent_back_with_invalid_request_and_iss(spec_mode):
    manifest = spec_mode.manifest
    query = urlencode({"client_id": manifest["applications"]["mcpClient"]["appId"], "response_type": "code",
                       "redirect_uri": REDIRECT_URI, "scope": READ_WRITE, "state": "no-pkce",
                       "resource": spec_mode.mcp_url})
    with spec_mode.session() as http:
        r = http.get(f"{manifest['authority']}/oauth2/v2.0/authorize?{query}", allow_redirects=False)
    assert r.status_code in (302, 303), f"HTTP {r.status_code}: {r.text[:500]}"
    location = r.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    answer = params(location)
    assert answer.get("error") == "invalid_request", answer
    assert answer.get("iss") == manifest["issuer"], answer
    assert answer.get("state") == "no-pkce", answer
    assert "code" not in answer, answer


def test_in_mcp_spec_mode_the_sdk_signs_in_with_a_client_id_metadata_document_and_calls_the_tools(
        spec_mode, client_metadata_documents):
    manifest, mcp_url, documents = spec_mode.manifest, spec_mode.mcp_url, client_metadata_documents
    alice, issuer = manifest["users"]["alice"], manifest["issuer"]
    document_url = documents.url("/oauth/client-metadata.json")
    documents.publish("/oauth/client-metadata.json", {
        "client_id": document_url, "client_name": "Interop CIMD client",
        "redirect_uris": ["http://127.0.0.1/callback"],  # loopback without a port: the SDK's :9 matches
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"})
    with httpx2.Client(verify=spec_mode.tls, trust_env=False, timeout=10) as http:
        metadata = http.get(f"{manifest['services']['authority'].rstrip('/')}"
                            f"/.well-known/oauth-authorization-server{urlsplit(issuer).path}").json()
    assert metadata.get("client_id_metadata_document_supported") is True, metadata

    run = run_signed_in(manifest, mcp_url, spec_mode.tls, alice, spec_mode.session, spec_mode.totp.code, list_and_call,
                        client_metadata_url=document_url)
    listed, result = run.value
    assert [tool.name for tool in listed.tools] == TOOLS
    alices_rows(result, alice)

    # The provider registered nothing: the document URL is the client id, in the authorize and the token request.
    assert run.storage.client_info.client_id == document_url, run.storage.client_info
    assert not run.recorder.to("/register"), run.recorder.summary()
    [authorize] = run.browser.authorize_urls
    assert params(authorize)["client_id"] == document_url, authorize
    assert params(authorize)["resource"] == mcp_url, authorize
    [token_request] = run.recorder.to(urlsplit(metadata["token_endpoint"]).path, "POST")
    form = parse_qs(token_request.body.decode())
    assert form["client_id"] == [document_url] and form.get("code_verifier"), form
    assert "client_secret" not in form and "authorization" not in token_request.headers, token_request

    # A client nobody consented to yet: password, verification code (the claims request), then consent.
    assert run.browser.pages == [["password", "code", "consent"]], run.browser.pages
    [redirect] = run.browser.redirects
    assert redirect.get("iss") == issuer, redirect

    # The token was issued to the document's client for exactly the resource the provider named.
    token = run.storage.tokens.access_token
    jwks = jwt.PyJWKClient(metadata["jwks_uri"], ssl_context=spec_mode.tls, timeout=5)
    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token), algorithms=["RS256"], audience=mcp_url,
                        issuer=issuer, options={"require": ["exp", "iat", "iss", "aud"]},
                        leeway=30 + max(0, int(spec_mode.totp.clock.offset) + 1))
    assert claims["azp"] == document_url and claims["aud"] == mcp_url, claims
    assert claims["oid"] == alice["objectId"], claims

    # The authority fetched the document itself (the SDK never does).
    assert documents.fetches("/oauth/client-metadata.json") >= 1, documents.requests

    authorize_endpoint = metadata["authorization_endpoint"]

    def authorize_directly(client_id, redirect_uri, state):
        query = urlencode({"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
                           "scope": READ_WRITE, "state": state, "resource": mcp_url,
                           "code_challenge": "E9Melhoe2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                           "code_challenge_method": "S256"})
        with spec_mode.session() as http:
            return http.get(f"{authorize_endpoint}?{query}", allow_redirects=False)

    # A redirect URI the document does not list is never redirected to: an error page, AADSTS50011.
    attacker = "https://attacker.example/callback"
    r = authorize_directly(document_url, attacker, "foreign-redirect")
    assert not r.headers.get("Location", "").startswith(attacker), f"HTTP {r.status_code} Location {r.headers.get('Location')}"
    assert r.status_code == 400 and "AADSTS50011" in r.text, f"HTTP {r.status_code}: {r.text[:1000]}"

    # A document whose client_id is not its own URL is refused, on an error page that says so.
    impostor_url = documents.url("/oauth/impostor.json")
    documents.publish("/oauth/impostor.json", {
        "client_id": document_url, "client_name": "Impostor", "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none"})
    r = authorize_directly(impostor_url, REDIRECT_URI, "impostor")
    assert documents.fetches("/oauth/impostor.json") == 1, documents.requests
    assert "Location" not in r.headers, f"HTTP {r.status_code} Location {r.headers.get('Location')}"
    assert r.status_code == 400 and "AADSTS700016" in r.text and "client_id" in r.text, f"HTTP {r.status_code}: {r.text[:1000]}"
