"""Conditional Access as clients meet it: the claims challenge on OBO, MFA with a TOTP code on the sign-in
pages, the guest block, and the sign-in log Microsoft Graph serves.

The demo tenant's policies: "Require MFA for Contoso SQL" (the Data API), "Block guests from Contoso SQL",
a c1 authentication-context policy and a report-only MFA policy for every app. Each scenario builds its
own MSAL / azure-identity objects (MSAL keeps a failed answer for 60 s per app object).
"""

import json
from datetime import datetime
from urllib.parse import urljoin

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import OnBehalfOfCredential

import forms

WEB_API_SCOPES = ["api://contoso-expenses-api/access_as_user"]
SQL_SCOPE = "https://database.windows.net//.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

MFA_FOR_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
BLOCK_GUESTS_FROM_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e03"
REPORT_ONLY_MFA = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e04"


def capolids_claims(*policy_ids):
    return {"access_token": {"capolids": {"essential": True, "values": list(policy_ids)}}}


def token_posts(http):
    return [r for r in http.seen if r.request.method == "POST" and "/oauth2/v2.0/token" in r.url]


def assert_ca_challenge(result, http, code, suberror, policy_id):
    """An OBO refused by Conditional Access: a 400 with Entra's body, and claims naming the policy."""
    [call] = token_posts(http)
    assert "requested_token_use=on_behalf_of" in call.request.body, call.request.body
    assert call.status_code == 400, f"HTTP {call.status_code}: {call.text}"
    assert "access_token" not in result, result
    assert result.get("error") == "invalid_grant", result
    assert result.get("error_codes") == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}:"), result
    assert result.get("suberror") == suberror, result
    assert result["correlation_id"] == call.request.headers["client-request-id"], result
    assert isinstance(result.get("claims"), str), result
    assert json.loads(result["claims"]) == capolids_claims(policy_id), result["claims"]


@pytest.fixture
def ropc_web_api_token(deputy, public_client, verify_jwt):
    """ropc_web_api_token(user key) -> the user's Web API token from ROPC on the CLI: a password, no MFA."""
    def get(key):
        user = deputy["users"][key]
        app, _ = public_client("cli")
        result = app.acquire_token_by_username_password(user["userPrincipalName"], user["password"], scopes=WEB_API_SCOPES)
        assert "access_token" in result, result
        claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
        assert claims["oid"] == user["objectId"]
        assert claims["amr"] == ["pwd"], claims
        return result["access_token"]

    return get


@pytest.fixture
def sign_in_log(graph_sign_ins):
    """sign_in_log(app_id, correlation_ids) -> Graph's signIn entries of the app, newest first, once the
    entries of every correlation id are in (the log is written in the background)."""
    return lambda app_id, correlation_ids: graph_sign_ins(
        "appId", app_id, lambda entries: set(correlation_ids) <= {e.get("correlationId") for e in entries})


def created(entry):
    return datetime.fromisoformat(entry["createdDateTime"].replace("Z", "+00:00"))


def the_entry(entries, correlation_id):
    found = [e for e in entries if e.get("correlationId") == correlation_id]
    assert len(found) == 1, (correlation_id, [(e.get("correlationId"), e.get("status")) for e in entries])
    return found[0]


def policy_result(entry, policy_id):
    found = [p for p in entry["appliedConditionalAccessPolicies"] if p["id"] == policy_id]
    assert len(found) == 1, (policy_id, entry["appliedConditionalAccessPolicies"])
    return found[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_obo_to_sql_with_a_password_only_token_is_challenged_for_mfa_and_succeeds_after_signing_in_with_a_code(
        deputy, public_client, confidential_client, session, totp, verify_jwt, ropc_web_api_token, sign_in_log):
    alice, web_api, data_api = deputy["users"]["alice"], deputy["applications"]["webApi"], deputy["applications"]["dataApi"]

    # 1. The Web API trades alice's password-only token for Contoso SQL: the MFA policy interrupts it.
    app, http = confidential_client("webApi")
    challenge = app.acquire_token_on_behalf_of(ropc_web_api_token("alice"), [SQL_SCOPE])
    assert_ca_challenge(challenge, http, 50076, "basic_action", MFA_FOR_SQL)
    failed_correlation = challenge["correlation_id"]

    # 2. The client signs alice in again with those claims: password, then the verification-code page.
    cli, _ = public_client("cli")
    flow = cli.initiate_auth_code_flow(WEB_API_SCOPES, redirect_uri="http://localhost", claims_challenge=challenge["claims"],
                                       login_hint=alice["userPrincipalName"])
    code_pages = []

    def otc(page):
        code_pages.append(page)
        return totp.code(alice)

    query = forms.sign_in(session(), flow["auth_uri"], alice["userPrincipalName"], alice["password"], otc=otc)
    assert len(code_pages) == 1, "the claims name the MFA policy, so the sign-in must ask for a verification code"
    page = code_pages[0]
    form = forms.first_form(page)
    assert urljoin(page.url, form.action).endswith(f"/{deputy['tenantId']}/mfa"), form.action
    assert form.method == "post"
    assert {"flow", "csrf_token", "otc"} <= form.values().keys(), form.inputs
    assert form.visible_names() == {"otc"}, form.inputs
    assert forms.element_text(page, "otc") is not None, "the code input has id 'otc'"

    mfa = cli.acquire_token_by_auth_code_flow(flow, query)
    assert "access_token" in mfa, mfa
    user_claims = verify_jwt(mfa["access_token"], web_api["appId"])
    assert user_claims["oid"] == alice["objectId"]
    assert "mfa" in user_claims["amr"] and "pwd" in user_claims["amr"], user_claims

    # 3. The same OBO call, with the new token, now gets the Contoso SQL token.
    app, http = confidential_client("webApi")
    result = app.acquire_token_on_behalf_of(mfa["access_token"], [SQL_SCOPE])
    assert "access_token" in result, result
    [call] = token_posts(http)
    assert call.status_code == 200, call.text
    succeeded_correlation = call.request.headers["client-request-id"]
    claims = verify_jwt(result["access_token"], data_api["appId"])
    assert claims["aud"] == data_api["appId"]
    assert claims["azp"] == web_api["appId"]
    assert claims["oid"] == alice["objectId"]
    assert "mfa" in claims["amr"], claims

    # 4. The sign-in log (Graph, newest first) has the interrupted OBO, then the one that passed.
    entries = sign_in_log(web_api["appId"], [failed_correlation, succeeded_correlation])
    assert all(e["appId"] == web_api["appId"] for e in entries), [e["appId"] for e in entries]
    assert [created(e) for e in entries] == sorted((created(e) for e in entries), reverse=True), "newest first"
    failed, succeeded = the_entry(entries, failed_correlation), the_entry(entries, succeeded_correlation)
    assert entries.index(succeeded) < entries.index(failed)
    assert created(failed) <= created(succeeded)

    for entry in (failed, succeeded):
        assert entry["id"], entry
        assert entry["appId"] == web_api["appId"], entry
        assert entry["appDisplayName"] == web_api["displayName"], entry
        assert entry["userId"] == alice["objectId"], entry
        assert entry["userPrincipalName"] == alice["userPrincipalName"], entry
        assert entry["resourceId"] == data_api["appId"], entry
        assert entry["resourceDisplayName"] == data_api["displayName"], entry
        assert entry["isInteractive"] is False, entry
        assert entry["ipAddress"] == "127.0.0.1", entry

    assert failed["status"]["errorCode"] == 50076, failed["status"]
    assert failed["status"]["failureReason"], failed["status"]
    assert failed["conditionalAccessStatus"] == "failure", failed
    mfa_policy = policy_result(failed, MFA_FOR_SQL)
    assert mfa_policy["result"] == "failure", mfa_policy
    assert mfa_policy["displayName"] == "Require MFA for Contoso SQL", mfa_policy
    assert [c.lower() for c in mfa_policy["enforcedGrantControls"]] == ["mfa"], mfa_policy
    assert policy_result(failed, REPORT_ONLY_MFA)["result"].startswith("reportOnly"), failed["appliedConditionalAccessPolicies"]
    assert failed["authenticationRequirement"] == "multiFactorAuthentication", failed

    assert succeeded["status"]["errorCode"] == 0, succeeded["status"]
    assert succeeded["conditionalAccessStatus"] == "success", succeeded
    assert policy_result(succeeded, MFA_FOR_SQL)["result"] == "success", succeeded["appliedConditionalAccessPolicies"]
    assert succeeded["authenticationRequirement"] == "multiFactorAuthentication", succeeded


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_guest_eve_is_blocked_from_sql_whatever_her_authentication(deputy, confidential_client, ropc_web_api_token,
                                                                       sign_in_log):
    eve, web_api, data_api = deputy["users"]["eve"], deputy["applications"]["webApi"], deputy["applications"]["dataApi"]
    app, http = confidential_client("webApi")
    result = app.acquire_token_on_behalf_of(ropc_web_api_token("eve"), [SQL_SCOPE])
    # A block is not remediable: no MFA would help, so the claims name the block policy alone.
    assert_ca_challenge(result, http, 53003, "message_only", BLOCK_GUESTS_FROM_SQL)

    entry = the_entry(sign_in_log(web_api["appId"], [result["correlation_id"]]), result["correlation_id"])
    assert entry["userPrincipalName"] == eve["userPrincipalName"], entry
    assert entry["resourceId"] == data_api["appId"], entry
    assert entry["status"]["errorCode"] == 53003, entry["status"]
    assert entry["conditionalAccessStatus"] == "failure", entry
    block = policy_result(entry, BLOCK_GUESTS_FROM_SQL)
    assert block["result"] == "failure", block
    assert [c.lower() for c in block["enforcedGrantControls"]] == ["block"], block


def test_the_sign_in_log_refuses_callers_without_a_token_or_without_audit_log_read_all(deputy, confidential_client, session):
    graph = deputy["graphBaseUrl"].rstrip("/")
    url = f"{graph}/v1.0/auditLogs/signIns?$top=1"
    http = session()

    r = http.get(url)
    assert r.status_code == 401, f"HTTP {r.status_code}: {r.text[:500]}"
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers

    # An app token for the Web API itself is not a Graph token at all.
    web_api, _ = confidential_client("webApi")
    own = web_api.acquire_token_for_client(["api://contoso-expenses-api/.default"])
    assert "access_token" in own, own
    r = http.get(url, headers={"Authorization": f"Bearer {own['access_token']}"})
    assert r.status_code in (401, 403), f"HTTP {r.status_code}: {r.text[:500]}"

    # A Graph token for an app that holds no Graph application permission: 403.
    reports, _ = confidential_client("reports")
    bare = reports.acquire_token_for_client([GRAPH_SCOPE])
    assert "access_token" in bare, bare
    r = http.get(url, headers={"Authorization": f"Bearer {bare['access_token']}"})
    assert r.status_code == 403, f"HTTP {r.status_code}: {r.text[:500]}"

    # The admin app holds AuditLog.Read.All: the same request is answered.
    admin, _ = confidential_client("admin")
    granted = admin.acquire_token_for_client([GRAPH_SCOPE])
    assert "access_token" in granted, granted
    r = http.get(url, headers={"Authorization": f"Bearer {granted['access_token']}"})
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    assert isinstance(r.json()["value"], list)


def test_azure_identity_obo_credential_for_sql_with_a_password_only_token_raises_aadsts50076(deputy, ca, base,
                                                                                          ropc_web_api_token):
    web_api = deputy["applications"]["webApi"]
    credential = OnBehalfOfCredential(deputy["tenantId"], web_api["appId"], client_secret=web_api["clientSecret"],
                                      user_assertion=ropc_web_api_token("bob"), authority=base,
                                      disable_instance_discovery=True, connection_verify=ca)
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(SQL_SCOPE)
    assert "AADSTS50076" in str(raised.value), str(raised.value)


def test_a_verification_code_is_accepted_once_and_a_second_sign_in_needs_the_next_code(deputy, public_client, session,
                                                                                      totp, verify_jwt):
    bob = deputy["users"]["bob"]
    claims = json.dumps(capolids_claims(MFA_FOR_SQL))

    first, _ = public_client("cli")
    flow = first.initiate_auth_code_flow(WEB_API_SCOPES, redirect_uri="http://localhost", claims_challenge=claims,
                                         login_hint=bob["userPrincipalName"])
    query = forms.sign_in(session(), flow["auth_uri"], bob["userPrincipalName"], bob["password"], otc=lambda page: totp.code(bob))
    assert "access_token" in first.acquire_token_by_auth_code_flow(flow, query)

    # Another browser, same time step: the code just used is refused, on the page, and the form is shown again.
    second, _ = public_client("cli")
    flow = second.initiate_auth_code_flow(WEB_API_SCOPES, redirect_uri="http://localhost", claims_challenge=claims,
                                          login_hint=bob["userPrincipalName"])
    browser = session()
    page = browser.get(flow["auth_uri"], allow_redirects=False)
    page = forms.submit_form(browser, page, {"username": bob["userPrincipalName"], "password": bob["password"]})
    while page.is_redirect:
        page = browser.get(urljoin(page.url, page.headers["Location"]), allow_redirects=False)
    assert forms.first_form(page).visible_names() == {"otc"}, forms.describe(page)

    refused = forms.submit_form(browser, page, {"otc": totp.reused_code(bob["totpSecret"])})
    assert refused.status_code == 200, forms.describe(refused)
    assert forms.first_form(refused, allow_error=True).visible_names() == {"otc"}, forms.describe(refused)
    assert forms.element_text(refused, "error"), f"the page must say why the code was refused:\n{forms.describe(refused)}"

    # The authority's clock moves to the next step; that step's code is accepted on the same form.
    after = forms.submit_form(browser, refused, {"otc": totp.code(bob)}, allow_error=True)
    query = forms.continue_sign_in(browser, after, "http://localhost")
    result = second.acquire_token_by_auth_code_flow(flow, query)
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
    assert claims["oid"] == bob["objectId"]
    assert "mfa" in claims["amr"], claims


def test_eve_without_an_authenticator_registers_one_during_the_sign_in(deputy, public_client, session, totp, verify_jwt):
    eve = deputy["users"]["eve"]
    assert eve["totpSecret"] is None, "the demo tenant ships eve without a registered authenticator"
    app, _ = public_client("cli")
    flow = app.initiate_auth_code_flow(WEB_API_SCOPES, redirect_uri="http://localhost",
                                       claims_challenge=json.dumps(capolids_claims(MFA_FOR_SQL)),
                                       login_hint=eve["userPrincipalName"])
    shown = []

    def register(page):
        secret = forms.element_text(page, "secret")
        assert secret, f"expected the registration page with the new key (id 'secret'):\n{forms.describe(page)}"
        shown.append(secret)
        return totp.code_for_secret(secret)

    query = forms.sign_in(session(), flow["auth_uri"], eve["userPrincipalName"], eve["password"], otc=register)
    assert len(shown) == 1
    result = app.acquire_token_by_auth_code_flow(flow, query)
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
    assert claims["oid"] == eve["objectId"]
    assert "mfa" in claims["amr"], claims
