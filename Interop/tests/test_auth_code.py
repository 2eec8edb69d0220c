import hashlib

import forms

SCOPES = ["api://contoso-expenses-api/access_as_user"]


def test_public_client_auth_code_with_pkce_signs_alice_in_and_refreshes(deputy, public_client, session, verify_jwt):
    alice, web_api, cli = deputy["users"]["alice"], deputy["applications"]["webApi"], deputy["applications"]["cli"]
    app, _ = public_client("cli")
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri="http://localhost", login_hint=alice["userPrincipalName"])
    assert "code_challenge=" in flow["auth_uri"]

    query = forms.sign_in(session(), flow["auth_uri"], alice["userPrincipalName"], alice["password"])
    assert query["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, query)  # MSAL checks state and the id_token nonce
    assert "access_token" in result, result

    claims = verify_jwt(result["access_token"], web_api["appId"])
    assert "access_as_user" in claims["scp"].split()
    assert claims["oid"] == alice["objectId"]
    assert claims["preferred_username"] == alice["userPrincipalName"]
    assert claims["name"] == alice["displayName"]
    assert claims["ver"] == "2.0"
    assert claims["azp"] == cli["appId"]

    id_claims = verify_jwt(result["id_token"], cli["appId"])
    assert id_claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert id_claims["oid"] == alice["objectId"]
    assert result["refresh_token"]

    [account] = app.get_accounts(username=alice["userPrincipalName"])
    refreshed = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != result["access_token"]
    assert verify_jwt(refreshed["access_token"], web_api["appId"])["oid"] == alice["objectId"]


def test_confidential_web_app_auth_code_redirects_to_its_registered_web_uri(deputy, confidential_client, session, totp,
                                                                          verify_jwt):
    bob, web_api = deputy["users"]["bob"], deputy["applications"]["webApi"]
    redirect_uri = web_api["redirectUris"][0]
    app, _ = confidential_client("webApi")
    # The Web API holds an admin grant for the Data API ("Contoso SQL"), so it may sign bob in for it.
    data_api = deputy["applications"]["dataApi"]
    flow = app.initiate_auth_code_flow(["https://database.windows.net//Data.Read"], redirect_uri=redirect_uri,
                                       login_hint=bob["userPrincipalName"])

    # Contoso SQL's Conditional Access policy requires MFA: after the password, the verification-code page.
    query = forms.sign_in(session(), flow["auth_uri"], bob["userPrincipalName"], bob["password"],
                          otc=lambda page: totp.code(bob))
    result = app.acquire_token_by_auth_code_flow(flow, query)
    assert "access_token" in result, result

    claims = verify_jwt(result["access_token"], data_api["appId"])
    assert "mfa" in claims["amr"], claims
    assert claims["scp"] == "Data.Read"
    assert "Expenses.Approver" in claims["roles"]  # bob's app role on the Data API, through his group
    assert claims["oid"] == bob["objectId"]
    assert claims["azp"] == web_api["appId"]
    assert verify_jwt(result["id_token"], web_api["appId"])["preferred_username"] == bob["userPrincipalName"]
