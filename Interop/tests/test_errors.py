import uuid

import pytest


def assert_entra_error(body, error, code, correlation_id=None):
    """Entra's error body: AADSTS text with trace/correlation lines, int codes, and the ids as fields."""
    assert body["error"] == error, body
    assert code in body["error_codes"] and all(type(c) is int for c in body["error_codes"]), body
    description = body["error_description"]
    assert description.startswith(f"AADSTS{code}:"), description
    for line in ("Trace ID:", "Correlation ID:", "Timestamp:"):
        assert line in description, description
    assert body["timestamp"] and body["trace_id"] and body["correlation_id"], body
    assert f"Trace ID: {body['trace_id']}" in description
    assert f"Correlation ID: {body['correlation_id']}" in description
    if correlation_id:
        assert body["correlation_id"] == correlation_id, body


def last_token_call(http):
    return [r for r in http.seen if r.request.method == "POST"][-1]


def test_wrong_client_secret_is_invalid_client_7000215_with_http_401(confidential_client):
    app, http = confidential_client("reports", secret="not-the-secret")
    result = app.acquire_token_for_client(["https://database.windows.net/.default"])
    call = last_token_call(http)
    assert call.status_code == 401
    assert_entra_error(result, "invalid_client", 7000215, call.request.headers["client-request-id"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_wrong_password_on_ropc_is_invalid_grant_50126(deputy, public_client):
    bob = deputy["users"]["bob"]
    app, http = public_client("cli")
    result = app.acquire_token_by_username_password(
        bob["userPrincipalName"], "not-" + bob["password"], scopes=["api://contoso-expenses-api/access_as_user"])
    call = last_token_call(http)
    assert call.status_code == 400
    assert result["error_codes"] == [50126], result
    assert_entra_error(result, "invalid_grant", 50126, call.request.headers["client-request-id"])


def test_unknown_tenant_discovery_is_400_aadsts90002_echoing_client_request_id(base, session):
    correlation_id = str(uuid.uuid4())
    r = session().get(f"{base}/{uuid.uuid4()}/v2.0/.well-known/openid-configuration",
                      headers={"client-request-id": correlation_id})
    assert r.status_code == 400, r.text
    assert "AADSTS90002" in r.json()["error_description"]
    assert_entra_error(r.json(), "invalid_tenant", 90002, correlation_id)


def test_token_endpoint_error_echoes_client_request_id_sent_by_hand(deputy, session):
    reports = deputy["applications"]["reports"]
    correlation_id = str(uuid.uuid4())
    r = session().post(deputy["authority"] + "/oauth2/v2.0/token", headers={"client-request-id": correlation_id},
                       data={"grant_type": "client_credentials", "client_id": reports["appId"],
                             "client_secret": "not-the-secret", "scope": "https://database.windows.net/.default"})
    assert r.status_code == 401, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert_entra_error(r.json(), "invalid_client", 7000215, correlation_id)
