import base64
import hashlib


def test_discovery_points_every_endpoint_at_the_local_authority(deputy, discovery):
    authority = deputy["authority"]
    assert discovery["issuer"] == deputy["issuer"]
    assert discovery["authorization_endpoint"] == authority + "/oauth2/v2.0/authorize"
    assert discovery["token_endpoint"] == authority + "/oauth2/v2.0/token"
    # MSAL only offers device flow when discovery names this endpoint.
    assert discovery["device_authorization_endpoint"] == authority + "/oauth2/v2.0/devicecode"
    assert discovery["jwks_uri"] == authority + "/discovery/v2.0/keys"


def test_jwks_keys_carry_kid_x5t_x5c_and_issuer(deputy, discovery, session):
    r = session().get(discovery["jwks_uri"])
    assert r.status_code == 200, r.text
    keys = r.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA" and key["use"] == "sig"
        assert key["kid"]
        assert key["issuer"] in (deputy["issuer"], deputy["issuer"].replace(deputy["tenantId"], "{tenantid}"))
        der = base64.b64decode(key["x5c"][0])
        assert key["x5t"].rstrip("=") == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
