"""On-Behalf-Of: the Web API trades bob's token for one to Contoso SQL, with MSAL Python and azure-identity.

Contoso SQL's Conditional Access policy requires MFA, so a token from a password alone is challenged
(test_conditional_access.py covers the challenge); the successful trades here start from a token bob got
by answering that challenge on the sign-in pages (password, then a TOTP code).

Each scenario builds its own MSAL / azure-identity objects: MSAL keeps a failed (HTTP 400) answer for 60 s
per app object, so sharing one between scenarios would hide what the server says the second time.
"""

import pytest
from azure.identity import OnBehalfOfCredential

WEB_API_SCOPES = ["api://contoso-expenses-api/access_as_user"]
SQL_SCOPE = "https://database.windows.net//.default"
MCP_SCOPE = "api://contoso-expenses-mcp/.default"


@pytest.fixture
def bob_web_api_token(deputy, public_client, verify_jwt):
    """bob's access token for the Web API, from ROPC on the CLI (the user-realm call goes through PortFixAdapter)."""
    bob = deputy["users"]["bob"]
    app, _ = public_client("cli")
    result = app.acquire_token_by_username_password(bob["userPrincipalName"], bob["password"], scopes=WEB_API_SCOPES)
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
    assert claims["oid"] == bob["objectId"]
    return result["access_token"]


@pytest.fixture
def bob_mfa_web_api_token(deputy, public_client, confidential_client, mfa_sign_in, verify_jwt, bob_web_api_token):
    """bob's access token for the Web API after MFA: the claims challenge of a password-only OBO to Contoso SQL,
    answered by an auth-code sign-in on the CLI (password, then the verification code)."""
    web_api, _ = confidential_client("webApi")
    challenge = web_api.acquire_token_on_behalf_of(bob_web_api_token, [SQL_SCOPE])
    assert challenge.get("error_codes") == [50076] and challenge.get("claims"), challenge
    app, _ = public_client("cli")
    result = mfa_sign_in(app, deputy["users"]["bob"], WEB_API_SCOPES, claims_challenge=challenge["claims"])
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
    assert claims["oid"] == deputy["users"]["bob"]["objectId"]
    assert "mfa" in claims["amr"], claims
    return result["access_token"]


def obo_posts(http):
    return [r for r in http.seen if r.request.method == "POST" and "/oauth2/v2.0/token" in r.url]


def assert_obo_error(result, http, error, code, suberror=None):
    """The OBO answer is a 400 with Entra's body: error, error_codes == [code], AADSTS text, and the suberror."""
    posts = obo_posts(http)
    assert posts, [(r.request.method, r.url, r.status_code) for r in http.seen]
    call = posts[-1]
    assert "requested_token_use=on_behalf_of" in call.request.body, call.request.body
    assert call.status_code == 400, f"HTTP {call.status_code}: {call.text}"
    assert "access_token" not in result, result
    assert result.get("error") == error, result
    assert result.get("error_codes") == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}:"), result
    assert result["correlation_id"] == call.request.headers["client-request-id"], result
    if suberror is not None:
        assert result.get("suberror") == suberror, result


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_msal_web_api_gets_a_sql_token_for_bob_with_his_role_not_its_own(deputy, confidential_client, verify_jwt,
                                                                       bob_mfa_web_api_token):
    web_api, data_api = deputy["applications"]["webApi"], deputy["applications"]["dataApi"]
    app, http = confidential_client("webApi")
    result = app.acquire_token_on_behalf_of(bob_mfa_web_api_token, [SQL_SCOPE])
    assert "access_token" in result, result
    assert len(obo_posts(http)) == 1 and obo_posts(http)[0].status_code == 200

    claims = verify_jwt(result["access_token"], data_api["appId"])
    assert claims["aud"] == data_api["appId"]
    assert claims["iss"] == deputy["issuer"]
    assert claims["tid"] == deputy["tenantId"]
    assert claims["azp"] == web_api["appId"]
    assert claims["oid"] == deputy["users"]["bob"]["objectId"]
    assert claims["idtyp"] == "user"
    scopes = claims["scp"].split()
    assert "Data.Read" in scopes and "Data.Write" in scopes, claims
    # The user's app role on Contoso SQL, never an app role of the middle tier.
    assert claims["roles"] == ["Expenses.Approver"], claims
    # The MFA of the incoming token satisfied Contoso SQL's policy and carries over.
    assert "mfa" in claims["amr"], claims


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_msal_obo_is_refused_for_a_foreign_assertion_and_without_consent(deputy, confidential_client, bob_web_api_token):
    # The reports daemon presents a token whose audience is the Web API: AADSTS500131.
    reports, http = confidential_client("reports")
    result = reports.acquire_token_on_behalf_of(bob_web_api_token, [SQL_SCOPE])
    assert_obo_error(result, http, "invalid_grant", 500131)
    assert deputy["applications"]["webApi"]["appId"] in result["error_description"], result
    assert deputy["applications"]["reports"]["appId"] in result["error_description"], result

    # The right middle tier, but nobody has consented to the Web API calling the MCP server: AADSTS65001.
    web_api, http = confidential_client("webApi")
    result = web_api.acquire_token_on_behalf_of(bob_web_api_token, [MCP_SCOPE])
    assert_obo_error(result, http, "invalid_grant", 65001, suberror="consent_required")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_azure_identity_on_behalf_of_credential_gets_a_sql_token(deputy, ca, base, clock, verify_jwt,
                                                                 bob_mfa_web_api_token):
    web_api, data_api = deputy["applications"]["webApi"], deputy["applications"]["dataApi"]
    credential = OnBehalfOfCredential(deputy["tenantId"], web_api["appId"], client_secret=web_api["clientSecret"],
                                      user_assertion=bob_mfa_web_api_token, authority=base,
                                      disable_instance_discovery=True, connection_verify=ca)
    token = credential.get_token(SQL_SCOPE)
    claims = verify_jwt(token.token, data_api["appId"])
    assert claims["azp"] == web_api["appId"]
    assert claims["oid"] == deputy["users"]["bob"]["objectId"]
    assert claims["idtyp"] == "user"
    assert "mfa" in claims["amr"], claims
    # expires_on is on this machine's clock, exp on the authority's (moved ahead by clock.offset for TOTP steps).
    assert abs(token.expires_on + clock.offset - claims["exp"]) <= 60, (token.expires_on, clock.offset, claims["exp"])


def test_msal_obo_with_a_garbage_assertion_is_invalid_grant_50013(confidential_client):
    app, http = confidential_client("webApi")
    result = app.acquire_token_on_behalf_of("a.b.c", [SQL_SCOPE])
    assert_obo_error(result, http, "invalid_grant", 50013)
