"""Microsoft Entra Agent ID with MSAL Python: the demo agent is an agent identity of a blueprint.

The blueprint (api://contoso-expense-agent) holds the credential and exposes the API users sign in for; the
agent identity has no credential of its own. Its blueprint gets T1 for it (client credentials for
api://AzureADTokenExchange/.default with fmi_path = the agent identity), and the agent identity presents T1
as its client assertion to act for a user (OBO), on its own (client credentials), or as its agent user
(T2, then the user_fic grant). Microsoft Learn: "Agent OBO flow", "Autonomous agent flow", "Agent user flow",
"Agent token claims".

Everything goes through MSAL Python 1.39, which has each request: acquire_token_for_client(fmi_path=...) for
T1, ConfidentialClientApplication(client_credential={"client_assertion": ...}) for the agent identity, and
acquire_token_by_user_federated_identity_credential for user_fic. The `agent_identity` fixture (conftest.py)
wires them up as the demo agent does. Each scenario builds its own MSAL objects (MSAL keeps a failed answer
for 60 s per app object).
"""

from urllib.parse import parse_qs

import pytest

TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"
# The well-known appId of "AAD Token Exchange Endpoint": the audience of T1 and T2.
TOKEN_EXCHANGE_APP_ID = "fb60f99c-7a34-4190-8149-302f77469936"
AGENT_SCOPES = ["api://contoso-expense-agent/access_as_user"]  # the agent's API, exposed by its blueprint
WEB_API_SCOPES = ["api://contoso-expenses-api/access_as_user"]
MCP_SCOPES = ["api://contoso-expenses-mcp/.default"]
SQL_SCOPE = "https://database.windows.net//.default"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_posts(http):
    return [r for r in http.seen if r.request.method == "POST" and "/oauth2/v2.0/token" in r.url]


def form(response):
    """The form parameters of the request behind `response` (each sent once)."""
    body = response.request.body
    fields = parse_qs(body if isinstance(body, str) else body.decode(), keep_blank_values=True)
    assert all(len(values) == 1 for values in fields.values()), fields
    return {name: values[0] for name, values in fields.items()}


def assert_entra_error(result, http, status, error, code):
    """MSAL's result of a refused request: Entra's body (error, AADSTS text, int error_codes) and the HTTP status."""
    call = token_posts(http)[-1]
    assert call.status_code == status, f"HTTP {call.status_code}: {call.text}"
    assert "access_token" not in result, result
    assert result.get("error") == error, result
    assert result.get("error_codes") == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}:"), result
    assert result["correlation_id"] == call.request.headers["client-request-id"], result
    return call


@pytest.fixture
def alice_token(deputy, public_client, verify_jwt):
    """alice_token(scopes) -> alice's access token from ROPC on the CLI (a password; nothing here needs MFA)."""
    alice = deputy["users"]["alice"]

    def get(scopes):
        app, _ = public_client("cli")
        result = app.acquire_token_by_username_password(alice["userPrincipalName"], alice["password"], scopes=scopes)
        assert "access_token" in result, result
        return result["access_token"]

    return get


def assert_agent_facets(claims, agent):
    """What every token the agent identity gets says about it (Microsoft Learn, "Agent token claims")."""
    assert claims["azp"] == agent.id, claims
    assert claims["xms_par_app_azp"] == agent.blueprint_id, claims
    assert claims["xms_act_fct"] == "11", claims


# --- T1 -------------------------------------------------------------------------------------------

def test_msal_blueprint_gets_t1_for_its_agent_identity_with_fmi_path_and_caches_it(deputy, agent_identity, verify_jwt):
    agent = agent_identity()
    result = agent.blueprint.acquire_token_for_client([TOKEN_EXCHANGE_SCOPE], fmi_path=agent.id)
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"

    [call] = token_posts(agent.blueprint_http)
    sent = form(call)
    assert sent["grant_type"] == "client_credentials", sent
    assert sent["client_id"] == agent.blueprint_id, sent
    assert sent["client_secret"] == deputy["applications"]["agentBlueprint"]["clientSecret"], sent
    assert sent["scope"] == TOKEN_EXCHANGE_SCOPE, sent
    assert sent["fmi_path"] == agent.id, sent

    claims = verify_jwt(result["access_token"], TOKEN_EXCHANGE_APP_ID)
    assert claims["aud"] == TOKEN_EXCHANGE_APP_ID
    assert claims["tid"] == deputy["tenantId"]
    assert claims["sub"] == agent.id, claims  # the token is the agent identity's credential...
    assert claims["azp"] == agent.blueprint_id, claims  # ...obtained by its blueprint
    assert claims["idtyp"] == "app", claims

    # MSAL keys its cache on the FMI path: the same request is answered from the cache.
    again = agent.blueprint.acquire_token_for_client([TOKEN_EXCHANGE_SCOPE], fmi_path=agent.id)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == result["access_token"]
    assert len(token_posts(agent.blueprint_http)) == 1


# --- the agent identity acting ---------------------------------------------------------------------

def test_msal_agent_obo_with_t1_as_the_client_assertion_gets_the_mcp_servers_token_for_alice(
        deputy, agent_identity, alice_token, verify_jwt):
    alice, mcp = deputy["users"]["alice"], deputy["applications"]["mcpServer"]
    agent = agent_identity()
    user_token = alice_token(AGENT_SCOPES)
    assert verify_jwt(user_token, agent.blueprint_id)["aud"] == agent.blueprint_id  # users sign in for the blueprint

    result = agent.app.acquire_token_on_behalf_of(user_token, scopes=MCP_SCOPES)
    assert "access_token" in result, result

    # One T1 from the blueprint, then the OBO request as the agent identity, with T1 as its only credential.
    [t1_call] = token_posts(agent.blueprint_http)
    assert form(t1_call)["fmi_path"] == agent.id
    [obo_call] = token_posts(agent.http)
    sent = form(obo_call)
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer", sent
    assert sent["requested_token_use"] == "on_behalf_of", sent
    assert sent["assertion"] == user_token
    assert sent["client_id"] == agent.id, sent
    assert sent["client_assertion_type"] == JWT_BEARER, sent
    assert sent["client_assertion"] == t1_call.json()["access_token"]
    assert "client_secret" not in sent, sent

    claims = verify_jwt(result["access_token"], mcp["appId"])
    assert claims["aud"] == mcp["appId"]
    assert claims["oid"] == alice["objectId"], claims
    assert claims["idtyp"] == "user", claims
    assert "Expenses.ReadWrite" in claims["scp"].split(), claims
    assert_agent_facets(claims, agent)


def test_msal_autonomous_agent_gets_an_app_token_for_sql_with_its_own_role(deputy, agent_identity, verify_jwt):
    data_api = deputy["applications"]["dataApi"]
    agent = agent_identity()
    result = agent.app.acquire_token_for_client([SQL_SCOPE])
    assert "access_token" in result, result
    [call] = token_posts(agent.http)
    sent = form(call)
    assert sent["grant_type"] == "client_credentials" and sent["client_id"] == agent.id, sent
    assert sent["client_assertion_type"] == JWT_BEARER and "client_secret" not in sent, sent

    claims = verify_jwt(result["access_token"], data_api["appId"])
    assert claims["aud"] == data_api["appId"]
    assert claims["idtyp"] == "app", claims
    assert claims["sub"] == agent.id, claims
    assert claims["roles"] == ["Expenses.Read.All"], claims
    assert "scp" not in claims, claims
    assert_agent_facets(claims, agent)
    assert claims["xms_sub_fct"] == "11", claims  # the subject is the agent identity itself
    assert claims["xms_idrel"] == "7", claims


def test_msal_agent_user_gets_a_token_from_t2_and_the_user_fic_grant(deputy, agent_identity, verify_jwt):
    mcp, registration = deputy["applications"]["mcpServer"], deputy["applications"]["agent"]
    agent_user = registration["agentUser"]
    assert agent_user["userPrincipalName"] == "expense-agent@contoso.com", agent_user
    agent = agent_identity()

    # T2: the agent identity's own token for the token exchange (T1 as its client assertion).
    t2 = agent.app.acquire_token_for_client([TOKEN_EXCHANGE_SCOPE])
    assert "access_token" in t2, t2
    t2_claims = verify_jwt(t2["access_token"], TOKEN_EXCHANGE_APP_ID)
    assert t2_claims["sub"] == agent.id and t2_claims["azp"] == agent.id, t2_claims

    # user_fic, naming the agent user by UPN, then by object id.
    for who in ({"username": agent_user["userPrincipalName"]}, {"user_object_id": agent_user["objectId"]}):
        result = agent.app.acquire_token_by_user_federated_identity_credential(MCP_SCOPES, t2["access_token"], **who)
        assert "access_token" in result, (who, result)
        call = token_posts(agent.http)[-1]
        sent = form(call)
        assert sent["grant_type"] == "user_fic", sent
        assert sent["client_id"] == agent.id, sent
        assert sent["client_assertion_type"] == JWT_BEARER and "client_secret" not in sent, sent
        assert sent["client_assertion"] == agent.t1(), "the agent identity authenticates with T1"
        assert sent["user_federated_identity_credential"] == t2["access_token"]
        if "username" in who:
            assert sent["username"] == agent_user["userPrincipalName"], sent
        else:
            assert sent["user_id"] == agent_user["objectId"], sent

        claims = verify_jwt(result["access_token"], mcp["appId"])
        assert claims["oid"] == agent_user["objectId"], claims
        assert claims["idtyp"] == "user", claims
        assert claims["xms_sub_fct"] == "13", claims  # the subject is an agent user
        assert "Expenses.ReadWrite" in claims["scp"].split(), claims
        assert_agent_facets(claims, agent)


# --- refusals -------------------------------------------------------------------------------------

def test_an_agent_identity_presenting_a_client_secret_is_refused_invalid_client_700233(deputy, confidential_client):
    assert deputy["applications"]["agent"]["clientSecret"] is None, "an agent identity has no credential of its own"
    # Even its blueprint's (valid) secret: only T1 authenticates an agent identity.
    app, http = confidential_client("agent", secret=deputy["applications"]["agentBlueprint"]["clientSecret"])
    result = app.acquire_token_for_client([SQL_SCOPE])
    assert_entra_error(result, http, 401, "invalid_client", 700233)


def test_a_blueprint_asking_t1_for_an_app_that_is_not_its_agent_is_refused_unauthorized_client_700231(
        deputy, agent_identity):
    agent = agent_identity()
    web_api = deputy["applications"]["webApi"]["appId"]
    result = agent.blueprint.acquire_token_for_client([TOKEN_EXCHANGE_SCOPE], fmi_path=web_api)
    call = assert_entra_error(result, agent.blueprint_http, 400, "unauthorized_client", 700231)
    assert form(call)["fmi_path"] == web_api


def test_agent_obo_with_a_user_token_for_another_api_is_refused_invalid_grant_500131(
        deputy, agent_identity, alice_token, verify_jwt):
    web_api = deputy["applications"]["webApi"]["appId"]
    user_token = alice_token(WEB_API_SCOPES)
    assert verify_jwt(user_token, web_api)["aud"] == web_api
    agent = agent_identity()
    result = agent.app.acquire_token_on_behalf_of(user_token, scopes=MCP_SCOPES)
    call = assert_entra_error(result, agent.http, 400, "invalid_grant", 500131)
    # The audience expected of the user's token is the blueprint's, whose API users sign in for.
    assert web_api in result["error_description"] and agent.blueprint_id in result["error_description"], result
    assert form(call)["client_assertion"] == agent.t1(), "refused for the assertion, not for the agent's credential"


# --- the sign-in log --------------------------------------------------------------------------------

def test_the_sign_in_log_shows_t1_without_conditional_access_and_the_agent_obo_as_the_agent_identity(
        deputy, agent_identity, alice_token, graph_sign_ins):
    alice, mcp = deputy["users"]["alice"], deputy["applications"]["mcpServer"]
    agent = agent_identity()
    result = agent.app.acquire_token_on_behalf_of(alice_token(AGENT_SCOPES), scopes=MCP_SCOPES)
    assert "access_token" in result, result
    [t1_call] = token_posts(agent.blueprint_http)
    [obo_call] = token_posts(agent.http)

    def entry(call):
        correlation = call.request.headers["client-request-id"]
        entries = graph_sign_ins("correlationId", correlation, lambda es: len(es) >= 1)
        assert len(entries) == 1, (correlation, entries)
        return entries[0]

    # T1: the blueprint got its agent identity's credential; Conditional Access does not apply to it.
    t1 = entry(t1_call)
    assert t1["appId"] == agent.blueprint_id, t1
    assert t1["resourceId"] == TOKEN_EXCHANGE_APP_ID, t1
    assert t1["status"]["errorCode"] == 0, t1["status"]
    assert t1["clientCredentialType"] == "clientSecret", t1
    assert t1["conditionalAccessStatus"] == "notApplied", t1
    assert t1["appliedConditionalAccessPolicies"] == [], t1["appliedConditionalAccessPolicies"]
    # Graph beta's signIn.agent: the blueprint's principal signed in, for the agent identity as the subject.
    assert t1["agent"]["agentType"] == "agentIdentityBlueprintPrincipal", t1["agent"]
    assert t1["agent"]["agentSubjectType"] == "agenticAppInstance", t1["agent"]
    assert t1["agent"]["agentIdentityId"] == agent.id, t1["agent"]
    assert t1["agent"]["parentAppId"] == agent.blueprint_id, t1["agent"]

    # The OBO: the agent identity is the client, acting for alice, with its blueprint as the parent.
    obo = entry(obo_call)
    assert obo["appId"] == agent.id, obo
    assert obo["userId"] == alice["objectId"], obo
    assert obo["resourceId"] == mcp["appId"], obo
    assert obo["status"]["errorCode"] == 0, obo["status"]
    assert obo["isInteractive"] is False, obo
    assert obo["clientCredentialType"] == "federatedIdentityCredential", obo  # T1, not a secret of its own
    assert obo["agent"]["agentType"] == "agenticAppInstance", obo["agent"]
    assert obo["agent"]["agentSubjectType"] == "notAgentic", obo["agent"]  # the subject is a person
    assert obo["agent"]["agentIdentityId"] == agent.id, obo["agent"]
    assert obo["agent"]["parentAppId"] == agent.blueprint_id, obo["agent"]
