from azure.identity import ClientSecretCredential

SCOPE = "https://database.windows.net/.default"


def assert_app_token(claims, deputy):
    assert claims["aud"] == deputy["applications"]["dataApi"]["appId"]
    assert claims["tid"] == deputy["tenantId"]
    assert claims["idtyp"] == "app"
    assert "Expenses.Read.All" in claims["roles"]
    assert claims["azp"] == deputy["applications"]["reports"]["appId"]


def test_msal_daemon_gets_an_app_token_with_its_role_and_then_serves_it_from_cache(deputy, confidential_client, verify_jwt):
    app, http = confidential_client("reports")
    result = app.acquire_token_for_client([SCOPE])
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    assert_app_token(verify_jwt(result["access_token"], deputy["applications"]["dataApi"]["appId"]), deputy)

    posts = sum(r.request.method == "POST" for r in http.seen)
    again = app.acquire_token_for_client([SCOPE])
    assert again["token_source"] == "cache"
    assert again["access_token"] == result["access_token"]
    assert sum(r.request.method == "POST" for r in http.seen) == posts


def test_azure_identity_client_secret_credential_gets_the_same_kind_of_token(deputy, ca, base, verify_jwt):
    reports = deputy["applications"]["reports"]
    credential = ClientSecretCredential(deputy["tenantId"], reports["appId"], reports["clientSecret"],
                                        authority=base, disable_instance_discovery=True, connection_verify=ca)
    token = credential.get_token(SCOPE)
    assert_app_token(verify_jwt(token.token, deputy["applications"]["dataApi"]["appId"]), deputy)
