import time

import forms

SCOPES = ["api://contoso-expenses-api/access_as_user"]


def test_device_code_flow_completes_after_alice_signs_in_on_the_verification_page(deputy, public_client, session, verify_jwt):
    alice = deputy["users"]["alice"]
    app, _ = public_client("cli")
    flow = app.initiate_device_flow(SCOPES)
    assert "user_code" in flow, flow
    assert flow["verification_uri"].startswith("https://127.0.0.1:"), flow

    done = forms.device_sign_in(session(), flow["verification_uri"], flow["user_code"],
                                alice["userPrincipalName"], alice["password"])
    assert done

    flow["expires_at"] = time.time() + 60  # never poll for the default 15 minutes if the sign-in did not take
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    claims = verify_jwt(result["access_token"], deputy["applications"]["webApi"]["appId"])
    assert claims["oid"] == alice["objectId"]
    assert "access_as_user" in claims["scp"].split()
