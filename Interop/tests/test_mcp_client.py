"""The MCP server with the Python MCP SDK (mcp 2.x, its streamable-HTTP client over httpx2) as the agent would use it.

The agent is a Microsoft Entra Agent ID agent identity: users sign in for the API its blueprint exposes
(api://contoso-expense-agent), here on the CLI (ROPC: a password, no MFA; or an auth-code sign-in with a
verification code). The agent identity trades that token with MSAL On-Behalf-Of for the MCP server's token,
authenticated as the demo agent is, by T1, the token its blueprint gets for it (the `agent_identity` fixture;
Microsoft Learn, "Agent OBO flow"), and the MCP client sends it. The MCP server's tools reach the Data API
by their own OBO, which the Data API's MFA policy refuses for a password-only user: the MCP server must answer
that tool call with an HTTP 401 claims challenge (not a 200 carrying a JSON-RPC or tool error), so the caller
can send the user through step-up.
"""

import asyncio
import base64
import json
import ssl

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

AGENT_SCOPES = ["api://contoso-expense-agent/access_as_user"]  # the agent's API, exposed by its blueprint
MCP_SCOPES = ["api://contoso-expenses-mcp/.default"]
TOOLS = ["list_expenses", "get_expense", "submit_expense", "approve_expense", "delete_expense"]
MFA_FOR_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
ALICES_EXPENSES = {"Train to the customer workshop", "Hotel, one night", "Team lunch"}  # the demo tenant's seed
PROTOCOL_VERSION = "2025-06-18"


@pytest.fixture(scope="module")
def mcp_url(deputy):
    return deputy["services"]["mcpServer"].rstrip("/") + "/mcp"


@pytest.fixture(scope="module")
def tls(ca):
    """Trusts the local CA only (httpx2 deprecates verify=<path>; this is the same CA file as a context)."""
    return ssl.create_default_context(cafile=ca)


@pytest.fixture
def agent_obo(deputy, agent_identity, verify_jwt):
    """agent_obo(user token, user) -> (the MCP server's token for that user, its claims): MSAL OBO as the agent
    identity, with T1 from its blueprint as the client assertion (new app objects every call)."""
    def trade(user_token, user):
        agent = agent_identity()
        result = agent.app.acquire_token_on_behalf_of(user_token, scopes=MCP_SCOPES)
        assert "access_token" in result, result
        [obo] = [r for r in agent.http.seen if r.request.method == "POST"]
        assert "client_secret" not in obo.request.body, obo.request.body
        assert f"client_assertion={agent.t1()}" in obo.request.body, obo.request.body
        claims = verify_jwt(result["access_token"], deputy["applications"]["mcpServer"]["appId"])
        assert claims["azp"] == agent.id, claims
        assert claims["xms_par_app_azp"] == agent.blueprint_id, claims
        assert claims["oid"] == user["objectId"], claims
        assert "Expenses.ReadWrite" in claims["scp"].split(), claims
        return result["access_token"], claims

    return trade


@pytest.fixture
def password_only_agent_token(deputy, public_client, verify_jwt):
    """alice's token for the agent (audience its blueprint) from ROPC on the CLI: a password, no MFA."""
    alice = deputy["users"]["alice"]
    app, _ = public_client("cli")
    result = app.acquire_token_by_username_password(alice["userPrincipalName"], alice["password"], scopes=AGENT_SCOPES)
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["agentBlueprint"]["appId"])
    assert claims["amr"] == ["pwd"], claims
    return result["access_token"]


def run_client(url, token, tls, body):
    """Runs `await body(client)` with an mcp Client (legacy mode: initialize, no server/discover probe)."""
    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30, verify=tls, trust_env=False) as hc:
            async with Client(streamable_http_client(url, http_client=hc), mode="legacy") as client:
                return await body(client)

    return asyncio.run(main())


def json_rpc_answer(response):
    """The JSON-RPC message of a streamable-HTTP answer (a JSON body or one SSE data event)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        assert data, response.text
        return json.loads(data[-1])
    return response.json()


def raw_tool_call(url, token, tls, name, arguments):
    """initialize, notifications/initialized, then tools/call, as plain HTTP: returns the tools/call response."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    with httpx2.Client(verify=tls, trust_env=False, timeout=30) as http:
        init = http.post(url, headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "interop", "version": "1"}}})
        assert init.status_code == 200, f"initialize: HTTP {init.status_code} {init.headers} {init.text[:500]}"
        version = json_rpc_answer(init)["result"]["protocolVersion"]
        headers["MCP-Protocol-Version"] = version
        if init.headers.get("mcp-session-id"):
            headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
        notified = http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert notified.status_code in (200, 202), f"notifications/initialized: HTTP {notified.status_code} {notified.text[:500]}"
        return http.post(url, headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}})


def bearer_params(header):
    """The parameters of a `Bearer k="v", …` challenge (values without quotes)."""
    assert header.startswith("Bearer "), header
    params = {}
    for part in header[len("Bearer "):].split(","):
        key, _, value = part.strip().partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return params


def mfa_challenge(response):
    """The claims (JSON text) of a 401 insufficient_claims answer naming the Data API's MFA policy."""
    assert response.status_code == 401, \
        f"a tool the user cannot reach without MFA must be answered HTTP 401, got {response.status_code}: {response.text[:500]}"
    params = bearer_params(response.headers.get("www-authenticate", ""))
    assert params.get("error") == "insufficient_claims", response.headers
    claims = base64.b64decode(params["claims"] + "=" * (-len(params["claims"]) % 4)).decode()
    assert json.loads(claims) == {"access_token": {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}}}, claims
    assert "result" not in response.text, f"a JSON-RPC result came with the 401: {response.text[:500]}"
    return claims


def test_the_mcp_servers_protected_resource_metadata_names_its_url_and_the_tenants_issuer(deputy, mcp_url, tls):
    origin = deputy["services"]["mcpServer"].rstrip("/")
    metadata_url = origin + "/.well-known/oauth-protected-resource/mcp"
    with httpx2.Client(verify=tls, trust_env=False, timeout=10) as http:
        r = http.get(metadata_url)
        assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
        metadata = r.json()
        assert metadata["resource"] == mcp_url, metadata
        assert metadata["authorization_servers"] == [deputy["issuer"]], metadata
        assert "api://contoso-expenses-mcp/Expenses.ReadWrite" in metadata.get("scopes_supported", []), metadata

        # Without a token: 401 pointing at that document (RFC 9728 §5.1), which is how clients find it.
        r = http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                      headers={"Accept": "application/json, text/event-stream"})
        assert r.status_code == 401, f"HTTP {r.status_code}: {r.text[:500]}"
        assert bearer_params(r.headers["www-authenticate"]).get("resource_metadata") == metadata_url, r.headers


def test_a_password_only_token_lists_the_tools_but_calling_one_is_answered_with_an_http_401_claims_challenge(
        deputy, mcp_url, tls, agent_obo, password_only_agent_token):
    token, claims = agent_obo(password_only_agent_token, deputy["users"]["alice"])
    assert claims["amr"] == ["pwd"], claims

    listed = run_client(mcp_url, token, tls, lambda client: client.list_tools())
    assert sorted(tool.name for tool in listed.tools) == sorted(TOOLS), [tool.name for tool in listed.tools]

    mfa_challenge(raw_tool_call(mcp_url, token, tls, "list_expenses", {}))


def test_with_a_token_from_an_mfa_sign_in_the_mcp_client_lists_alices_expenses(
        deputy, mcp_url, tls, agent_obo, public_client, mfa_sign_in, password_only_agent_token):
    alice = deputy["users"]["alice"]

    # The challenge the MCP server sends is what the CLI signs alice in with: password, then a code.
    password_only, _ = agent_obo(password_only_agent_token, alice)
    claims_challenge = mfa_challenge(raw_tool_call(mcp_url, password_only, tls, "list_expenses", {}))
    cli, _ = public_client("cli")
    signed_in = mfa_sign_in(cli, alice, AGENT_SCOPES, claims_challenge=claims_challenge)
    assert "access_token" in signed_in, signed_in

    token, claims = agent_obo(signed_in["access_token"], alice)
    assert "mfa" in claims["amr"], claims

    async def use(client):
        return await client.list_tools(), await client.call_tool("list_expenses", {})

    listed, result = run_client(mcp_url, token, tls, use)
    assert [tool.name for tool in listed.tools] == TOOLS
    assert result.is_error is False, result
    assert result.content and result.content[0].type == "text", result
    rows = json.loads(result.content[0].text)
    assert len(rows) == 3, rows
    assert {row["description"] for row in rows} == ALICES_EXPENSES, rows
    assert all(row["ownerOid"] == alice["objectId"] and row["ownerName"] == alice["displayName"] for row in rows), rows
    assert result.structured_content == {"expenses": rows}, result.structured_content

    one = run_client(mcp_url, token, tls, lambda client: client.call_tool("get_expense", {"id": rows[0]["id"]}))
    assert one.is_error is False, one
    assert json.loads(one.content[0].text) == rows[0]
