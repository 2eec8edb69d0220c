import pytest

SCOPES = ["api://contoso-expenses-api/access_as_user"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ropc_signs_bob_in_after_the_portless_user_realm_lookup(deputy, public_client, session, base, verify_jwt):
    bob = deputy["users"]["bob"]
    app, http = public_client("cli")
    result = app.acquire_token_by_username_password(bob["userPrincipalName"], bob["password"], scopes=SCOPES)
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
    assert claims["preferred_username"] == bob["userPrincipalName"]
    assert claims["oid"] == bob["objectId"]

    realm_calls = [r for r in http.seen if "/common/userrealm/" in r.url]
    assert realm_calls and realm_calls[0].status_code == 200, [(r.url, r.status_code) for r in http.seen]

    r = session().get(f"{base}/common/userrealm/{bob['userPrincipalName']}", params={"api-version": "1.0"})
    assert r.status_code == 200, r.text
    assert r.json()["account_type"] == "Managed"
