"""Starts one `deputy up --tls` for the whole session and hands tests what they need to talk to it.

Fixtures:
  data_dir     the data directory `deputy up` runs on (the tenant file, the databases, manifest.json)
  deputy       the parsed manifest of the running server
  deputy_cli   deputy_cli(*args) -> runs `$DEPUTY_BIN args... --data-dir <data_dir>` against the running instance
               (e.g. deputy_cli("policy", "enable", id)); fails the test unless it exits 0
  ca           path of the CA certificate the server's TLS chain ends in
  base         the authority's origin, e.g. https://127.0.0.1:23456
  discovery    the tenant's OpenID configuration
  session      session() -> a fresh requests.Session that trusts only `ca` and knows the port-less URL trick
  verify_jwt   verify_jwt(token, audience) -> claims, checked against the tenant's JWKS with PyJWT
  clock        the authority's clock (`deputy up --test-controls`): clock.now(), clock.offset, clock.advance(seconds)
  totp         totp.code(user) -> a verification code for the authority's time that was never handed out before
  mfa_sign_in  mfa_sign_in(app, user, scopes, claims_challenge=None) -> MSAL's result of an auth-code sign-in
               (password, then the verification-code page when the authority asks for it)
  agent_identity  agent_identity() -> the demo Agent ID agent identity in MSAL Python (AgentIdentity): an app whose
               client assertion is T1, the token its blueprint gets for it with fmi_path
  chrome       a new headless Chromium (Selenium) for one test, trusting only the chain's CA-issued server
               certificate; on failure its screenshot, page and console log go to Interop/artifacts/
"""

import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import random
import struct
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import msal
import pytest
import requests
from requests.adapters import HTTPAdapter

import forms

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "Interop" / "artifacts"
STARTUP_TIMEOUT = 30

# A proxy configured for the host must never see the emulator's traffic (azure-core honours these variables).
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
os.environ["no_proxy"] = os.environ["NO_PROXY"]

_log_path = None  # set once deputy is started, read by pytest_terminal_summary


def _deputy_bin():
    path = os.environ.get("DEPUTY_BIN") or str(REPO / ".build" / "debug" / "deputy")
    if not os.access(path, os.X_OK):
        pytest.exit(f"deputy binary not found at {path}; build it and/or set DEPUTY_BIN", returncode=1)
    return path


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port_base():
    for _ in range(200):
        base = random.randint(20000, 40000 - 10)
        if all(_port_free(base + i) for i in range(10)):
            return base
    raise RuntimeError("no free block of 10 ports found in 20000-40000")


def _tail(path, lines=60):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _wait_until_ready(proc, manifest_path):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "manifest not written yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, f"deputy exited with status {proc.returncode}"
        try:
            manifest = json.loads(manifest_path.read_text())
            probe = requests.Session()
            probe.trust_env = False
            url = manifest["authority"] + "/v2.0/.well-known/openid-configuration"
            r = probe.get(url, verify=manifest["caCertificate"], timeout=2)
            if r.status_code == 200:
                return manifest, None
            last = f"GET {url} answered {r.status_code}: {r.text[:300]}"
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, requests.RequestException) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.2)
    return None, f"not ready after {STARTUP_TIMEOUT} s ({last})"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """The data directory of the session's `deputy up`: the CLI's commands change the running instance through it."""
    return tmp_path_factory.mktemp("deputy-data")


@pytest.fixture(scope="session")
def deputy(tmp_path_factory, data_dir):
    global _log_path
    run_dir = tmp_path_factory.mktemp("deputy-run")
    manifest_path = data_dir / "manifest.json"
    _log_path = run_dir / "deputy.log"
    base = _free_port_base()
    cmd = [_deputy_bin(), "up", "--tls", "--test-controls", "--port-base", str(base),
           "--data-dir", str(data_dir), "--manifest", str(manifest_path)]
    with open(_log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=run_dir)
    try:
        manifest, problem = _wait_until_ready(proc, manifest_path)
        if problem:
            pytest.fail(f"{' '.join(cmd)}\n{problem}\n--- deputy output ---\n{_tail(_log_path)}", pytrace=False)
        yield manifest
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def deputy_cli(deputy, data_dir):
    """deputy_cli(*args) -> the CompletedProcess of `$DEPUTY_BIN args... --data-dir <data_dir>`, which must exit 0.

    Depends on `deputy`, so the instance it changes is running (the authority reads the change on its next request).
    """
    def run(*args):
        cmd = [_deputy_bin(), *args, "--data-dir", str(data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0 and _log_path is not None:
        terminalreporter.section("deputy output (tail)")
        terminalreporter.write_line(_tail(_log_path))


@pytest.fixture(scope="session")
def ca(deputy):
    path = deputy["caCertificate"]
    assert path and Path(path).is_file(), f"manifest caCertificate is not a file: {path!r}"
    return path


@pytest.fixture(scope="session")
def base(deputy):
    return deputy["services"]["authority"].rstrip("/")


class PortFixAdapter(HTTPAdapter):
    """Sends https://127.0.0.1/... (no port) to https://127.0.0.1:PORT/...

    MSAL's ROPC user-realm lookup builds its URL from the bare host name and so loses the port.
    """

    def __init__(self, port, **kwargs):
        self.port = port
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        request.url = request.url.replace("https://127.0.0.1/", f"https://127.0.0.1:{self.port}/", 1)
        return super().send(request, **kwargs)


@pytest.fixture(scope="session")
def session(ca, base):
    """session() gives a new requests.Session for one client (one MSAL app or one browser).

    trust_env=False so REQUESTS_CA_BUNDLE cannot override verify=ca. Every response is appended
    to `s.seen`, so a test can check what a library actually sent and received.
    """
    port = urlsplit(base).port

    def make():
        s = requests.Session()
        s.trust_env = False
        s.verify = ca
        s.mount("https://127.0.0.1/", PortFixAdapter(port))
        s.seen = []
        s.hooks["response"].append(lambda r, *a, **k: s.seen.append(r))
        return s

    return make


@pytest.fixture(scope="session")
def discovery(deputy, session):
    r = session().get(deputy["authority"] + "/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200, r.text
    return r.json()


class AuthorityClock:
    """The authority's clock: the system clock plus an offset that only POST /_deputy/test/clock changes.

    Tests move it forward instead of sleeping (to reach the next TOTP step). Its times are in the tokens
    the authority issues, so token checks made on this machine's clock allow for the offset.
    """

    def __init__(self, base, session, admin_token):
        self.url = f"{base}/_deputy/test/clock"
        self.http = session
        self.admin_token = admin_token
        self.offset = 0.0

    def now(self):
        """The authority's time, in seconds since the epoch."""
        return time.time() + self.offset

    def advance(self, seconds):
        """Moves the authority's clock forward by whole seconds; returns the control's answer."""
        # The control answers a tenant administrator only (the admin app's Graph token, User.ReadWrite.All).
        r = self.http.post(self.url, json={"advanceSeconds": int(seconds)},
                           headers={"Authorization": f"Bearer {self.admin_token()}"})
        assert r.status_code == 200, f"POST {self.url} answered {r.status_code}: {r.text[:500]}"
        answer = r.json()
        assert "now" in answer and "offsetSeconds" in answer, answer
        self.offset = float(answer["offsetSeconds"])
        return answer


@pytest.fixture(scope="session")
def clock(base, session, deputy):
    def admin_token():
        registration = deputy["applications"]["admin"]
        http = session()
        app = msal.ConfidentialClientApplication(registration["appId"], client_credential=registration["clientSecret"],
                                                 authority=deputy["authority"], instance_discovery=False, http_client=http)
        token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        assert "access_token" in token, token
        return token["access_token"]
    return AuthorityClock(base, session(), admin_token)


TOTP_PERIOD = 30


def own_store_env():
    """The environment for an instance of its own (and the CLI commands run on its data directory): without
    DEPUTY_DATABASE_URL, so it keeps its store in its data directory. Under `Interop/run` on PostgreSQL every
    `deputy up` would otherwise share the session instance's database — one tenant, whose mode (`--mcp-spec`),
    policies and grants these modules change."""
    env = dict(os.environ)
    env.pop("DEPUTY_DATABASE_URL", None)
    return env


@contextlib.contextmanager
def own_instance(tmp_path_factory, name, *extra_args, stop_timeout=10):
    """`deputy up --tls --test-controls extra_args...` on its own port block and data directory, for one module.

    Yields (manifest, manifest_path, data_dir, clock, closing): `clock` is that instance's AuthorityClock; put
    sessions in `closing` to have them closed before the instance is stopped (an open connection delays its stop).
    The instance gets SIGTERM and, after `stop_timeout` seconds, SIGKILL.
    """
    data_dir = tmp_path_factory.mktemp(name)
    manifest_path = data_dir / "manifest.json"
    log_path = data_dir / "deputy.log"
    cmd = [_deputy_bin(), "up", "--tls", "--test-controls", *extra_args, "--port-base", str(_free_port_base()),
           "--data-dir", str(data_dir), "--manifest", str(manifest_path)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=data_dir,
                                env=own_store_env())
    closing = []
    try:
        manifest, problem = _wait_until_ready(proc, manifest_path)
        if problem:
            pytest.fail(f"{' '.join(cmd)}\n{problem}\n--- deputy output ---\n{_tail(log_path)}", pytrace=False)

        def http():
            s = requests.Session()
            s.trust_env = False
            s.verify = manifest["caCertificate"]
            return s

        def admin_token():
            admin = manifest["applications"]["admin"]
            with http() as s:
                app = msal.ConfidentialClientApplication(admin["appId"], client_credential=admin["clientSecret"],
                                                         authority=manifest["authority"], instance_discovery=False,
                                                         http_client=s)
                token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
            assert "access_token" in token, token
            return token["access_token"]

        clock = AuthorityClock(manifest["services"]["authority"].rstrip("/"), http(), admin_token)
        closing.append(clock.http)
        yield manifest, manifest_path, data_dir, clock, closing
    finally:
        for s in closing:
            s.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def totp_at(base32_secret, when):
    """RFC 6238 (over RFC 4226): HMAC-SHA1 of the 30-second step of `when`, dynamically truncated to 6 digits."""
    secret = base64.b32decode(base32_secret.upper() + "=" * (-len(base32_secret) % 8))
    mac = hmac.new(secret, struct.pack(">Q", int(when // TOTP_PERIOD)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Authenticator:
    """The authenticator app of every test user: codes for the authority's time, each step handed out once.

    The authority accepts a code only once (RFC 6238 §5.2), so when a user's current step was already
    used, the clock is moved to the next step rather than waiting for it.
    """

    def __init__(self, clock):
        self.clock = clock
        self.last_step = {}  # secret -> the last step a code was handed out for

    def code_for_secret(self, secret):
        now = self.clock.now()
        last = self.last_step.get(secret)
        if last is not None and now // TOTP_PERIOD <= last:
            self.clock.advance(math.ceil((last + 1) * TOTP_PERIOD - now))
            now = self.clock.now()
        self.last_step[secret] = int(now // TOTP_PERIOD)
        return totp_at(secret, now)

    def code(self, user):
        """A fresh code for a manifest user (one with a totpSecret)."""
        assert user.get("totpSecret"), f"{user['userPrincipalName']} has no registered TOTP secret in the manifest"
        return self.code_for_secret(user["totpSecret"])

    def reused_code(self, secret):
        """The code handed out last for `secret`, computed again (its step must still be within the authority's window)."""
        return totp_at(secret, self.last_step[secret] * TOTP_PERIOD)


@pytest.fixture(scope="session")
def totp(clock):
    return Authenticator(clock)


@pytest.fixture(scope="session")
def verify_jwt(deputy, discovery, ca, clock):
    """verify_jwt(token, audience) -> claims; signature (by kid, from the JWKS), exp, iss and aud are checked.

    The leeway covers how far tests moved the authority's clock ahead (its iat would look like the future).
    """
    jwks = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=ssl.create_default_context(cafile=ca), timeout=5)

    def verify(token, audience):
        key = jwks.get_signing_key_from_jwt(token)
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=deputy["issuer"],
                          options={"require": ["exp", "iat", "iss", "aud"]}, leeway=30 + max(0, math.ceil(clock.offset)))

    return verify


@pytest.fixture
def public_client(deputy, session):
    """public_client(name) -> (msal.PublicClientApplication, its requests.Session); a new app every call."""
    def make(name):
        s = session()
        app = msal.PublicClientApplication(deputy["applications"][name]["appId"], authority=deputy["authority"],
                                           instance_discovery=False, http_client=s)
        return app, s

    return make


@pytest.fixture
def confidential_client(deputy, session):
    """confidential_client(name, secret=None) -> (msal.ConfidentialClientApplication, its requests.Session).

    The secret defaults to the one in the manifest.
    """
    def make(name, secret=None):
        s = session()
        registration = deputy["applications"][name]
        app = msal.ConfidentialClientApplication(
            registration["appId"], client_credential=secret or registration["clientSecret"],
            authority=deputy["authority"], instance_discovery=False, http_client=s)
        return app, s

    return make


TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"


class AgentIdentity:
    """The demo agent identity (Microsoft Entra Agent ID) as the demo agent runs it, in MSAL Python.

    An agent identity has no credential of its own. Its blueprint authenticates with its own secret and gets
    T1 for it: client credentials for api://AzureADTokenExchange/.default with fmi_path=<agent identity id>
    (MSAL Python's acquire_token_for_client(fmi_path=...), which caches T1 per path). The agent identity's
    ConfidentialClientApplication presents T1 as its client_assertion (Microsoft Learn, "Agent OBO flow"), given
    as a callable, as MSAL's docs recommend for assertions that expire: MSAL calls it for every request it sends,
    and the blueprint's cache answers until T1 runs out, as the demo agent's AgentIdentityCredential does.

    app / http                 the agent identity's MSAL app and its requests.Session
    blueprint / blueprint_http the blueprint's MSAL app and its requests.Session
    id, blueprint_id           the agent identity's client id and its blueprint's
    """

    def __init__(self, deputy, session, confidential_client):
        registration = deputy["applications"]["agent"]
        self.id = registration["agentIdentityId"]
        self.blueprint_id = registration["blueprintAppId"]
        assert deputy["applications"]["agentBlueprint"]["appId"] == self.blueprint_id, registration
        self.blueprint, self.blueprint_http = confidential_client("agentBlueprint")
        self.http = session()
        self.app = msal.ConfidentialClientApplication(
            self.id, client_credential={"client_assertion": self.t1}, authority=deputy["authority"],
            instance_discovery=False, http_client=self.http)

    def t1(self):
        """The agent identity's credential, from the blueprint (its cache, or a new client-credentials request)."""
        result = self.blueprint.acquire_token_for_client([TOKEN_EXCHANGE_SCOPE], fmi_path=self.id)
        assert "access_token" in result, f"the blueprint got no T1 for {self.id}: {result}"
        return result["access_token"]


@pytest.fixture
def agent_identity(deputy, session, confidential_client):
    """agent_identity() -> a new AgentIdentity (new MSAL app objects every call: MSAL keeps a failed answer
    for 60 s per app object)."""
    return lambda: AgentIdentity(deputy, session, confidential_client)


@pytest.fixture
def graph_sign_ins(deputy, confidential_client, session):
    """graph_sign_ins(field, value, until) -> Graph's signIn entries with `field eq 'value'`, newest first,
    read as the admin app and polled (the log is written in the background) until `until(entries)`
    holds or 5 s have passed."""
    from urllib.parse import quote
    graph = deputy["graphBaseUrl"].rstrip("/")

    def read(field, value, until):
        admin, _ = confidential_client("admin")
        token = admin.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        assert "access_token" in token, token
        url = f"{graph}/v1.0/auditLogs/signIns?$top=50&$filter={quote(f'{field} eq {chr(39)}{value}{chr(39)}')}"
        http = session()
        deadline = time.monotonic() + 5
        while True:
            r = http.get(url, headers={"Authorization": f"Bearer {token['access_token']}"})
            assert r.status_code == 200, f"GET {url} answered {r.status_code}: {r.text[:1000]}"
            entries = r.json()["value"]
            if until(entries) or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)

    return read


@pytest.fixture
def mfa_sign_in(session, totp):
    """mfa_sign_in(app, user, scopes, claims_challenge=None, redirect_uri="http://localhost") -> MSAL's token result.

    An auth-code flow with MSAL whose browser part is forms.sign_in: the password, then the verification
    code from `totp` when the authority shows the code page.
    """
    def sign_in(app, user, scopes, claims_challenge=None, redirect_uri="http://localhost"):
        flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri, claims_challenge=claims_challenge,
                                           login_hint=user["userPrincipalName"])
        query = forms.sign_in(session(), flow["auth_uri"], user["userPrincipalName"], user["password"],
                              otc=lambda page: totp.code(user))
        assert query["state"] == flow["state"]
        return app.acquire_token_by_auth_code_flow(flow, query)  # MSAL sends the flow's claims_challenge again

    return sign_in


# --- a real browser --------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so a fixture's teardown knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _spki_sha256(cert):
    """base64(SHA-256(SubjectPublicKeyInfo)): the form Chromium's --ignore-certificate-errors-spki-list takes."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _presented_certificate(origin, ca):
    """The DER leaf certificate an https origin presents, after a handshake that verifies it against `ca`."""
    parts = urlsplit(origin)
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            return tls.getpeercert(binary_form=True)


@pytest.fixture(scope="session")
def chain_server_spki(deputy, ca):
    """The SPKI hash of the server certificate the local CA issued (tls/server.pem in the data directory).

    Chromium has no option to add a CA for one run without an NSS database, so it is told to accept this
    one key instead (--ignore-certificate-errors-spki-list): nothing else is trusted, and only the chain's
    certificate, checked here to be issued by the CA and to be what every origin the browser visits presents.
    """
    from cryptography import x509
    ca_cert = x509.load_pem_x509_certificate(Path(ca).read_bytes())
    server_pem = Path(ca).parent / "server.pem"
    assert server_pem.is_file(), f"no server certificate next to the CA certificate: {server_pem}"
    server = x509.load_pem_x509_certificate(server_pem.read_bytes())
    server.verify_directly_issued_by(ca_cert)  # raises when another key signed it
    for role in ("authority", "spa", "webApi", "agent", "reportsApi"):
        origin = deputy["services"][role]
        presented = x509.load_der_x509_certificate(_presented_certificate(origin, ca))
        assert presented == server, f"{role} ({origin}) presents another certificate than {server_pem}: {presented.subject}"
    return _spki_sha256(server)


def _browser_unavailable():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    return f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)" if missing else None


def _save_browser_artifacts(driver, name):
    """Screenshot, URL, page source and console log of a failed browser test (best effort: the browser may be gone)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    notes = []
    try:
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    except Exception as e:  # noqa: BLE001 - a dead browser must not hide the test's own failure
        notes.append(f"(no screenshot: {e!r})")
    try:
        notes.append(f"URL: {driver.current_url}")
        notes.append("--- console ---")
        notes += [f"{e.get('level')} {e.get('message')}" for e in driver.get_log("browser")]
        notes.append("--- page ---")
        notes.append(driver.page_source)
    except Exception as e:  # noqa: BLE001
        notes.append(f"(browser state unavailable: {e!r})")
    (ARTIFACTS / f"{name}.log").write_text("\n".join(notes), errors="replace")


@pytest.fixture
def chrome(request, chain_server_spki):
    """A new headless Chromium per test: its own profile, so no cookie or sessionStorage is shared.

    Skipped when Chromium or chromedriver is missing, except under CI (CI set), where that fails the test.
    """
    problem = _browser_unavailable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need Chromium in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    # Selenium Manager must not try to download a driver or send usage statistics.
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000",
                     "--no-first-run", "--no-default-browser-check",
                     # Trust the chain's CA-issued certificate only (chromedriver gives each session a --user-data-dir,
                     # which Chromium requires before it honours this switch).
                     f"--ignore-certificate-errors-spki-list={chain_server_spki}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            _save_browser_artifacts(driver, request.node.name)
        driver.quit()
