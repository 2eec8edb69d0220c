"""The chain as a person meets it: the real SPA in headless Chromium, the authority's sign-in pages, step-up.

Each test gets its own browser (the `chrome` fixture: a new profile, so no authority session or SPA
sessionStorage is shared). The SPA marks itself idle with body[data-busy="false"]; every wait is for that
plus the DOM the step should produce, bounded by WAIT seconds. Verification codes come from the `totp`
fixture when the authority's code page is shown, so each is one the authority has never seen.
"""

import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.common.exceptions import (JavascriptException, NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20  # seconds, for any one step
MAX_PAGES = 6  # authority pages one action may show before it counts as a loop
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MFA_FOR_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
# "Block the expense agent acting on its own": Conditional Access for agents (Microsoft Learn, "Conditional Access
# for Agent ID"), targeting the agent identity (includeAgentIdServicePrincipals) with a block; disabled in the demo.
AGENT_BLOCK = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e05"
ALICES_EXPENSES = {"Train to the customer workshop", "Hotel, one night", "Team lunch"}  # the demo tenant's seed


class Spa:
    """The SPA in one browser, driven through its stable ids, and the authority's pages it sends the browser to."""

    def __init__(self, driver, deputy, totp):
        self.d = driver
        self.deputy = deputy
        self.totp = totp
        self.origin = deputy["services"]["spa"].rstrip("/")
        self.authority = deputy["services"]["authority"].rstrip("/")
        self.pages = []  # every authority page shown: (kind, url)

    def wait(self, condition, what, timeout=WAIT):
        def polled(d):
            # While a page is being replaced, Chromium can answer a query about a node of the old document with
            # "Node with given id does not belong to the document" (a plain WebDriverException, not a stale
            # reference). That is the same "not yet" as a stale element; anything else still fails the test.
            try:
                return condition(d)
            except WebDriverException as error:
                if "does not belong to the document" in (error.msg or ""):
                    return False
                raise
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(NoSuchElementException, StaleElementReferenceException,
                                                     JavascriptException)).until(polled)
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; at {self.d.current_url}\n"
                                 f"status: {self.status_text()!r}") from None

    def status_text(self):
        try:
            return self.d.find_element(By.ID, "status").text
        except Exception:  # noqa: BLE001 - only for messages
            return None

    def idle(self, d=None):
        d = d or self.d
        return (d.current_url.startswith(self.origin + "/")
                and d.find_element(By.TAG_NAME, "body").get_attribute("data-busy") == "false")

    def open(self):
        self.d.get(self.origin + "/")
        self.wait(self.idle, "the SPA to load")
        assert "error" not in self.d.find_element(By.ID, "status").get_attribute("class"), self.status_text()

    def _where(self, d):
        """'spa' once back in the SPA and idle; an authority page's kind when it asks for something; else None."""
        if self.idle(d):
            return "spa"
        if d.current_url.startswith(self.authority + "/") and d.execute_script("return document.readyState") == "complete":
            if d.find_elements(By.ID, "otc"):
                return "code"
            if d.find_elements(By.ID, "password"):
                return "password"
            if not d.find_elements(By.TAG_NAME, "form"):
                return "authority-error"
        return None

    def finish_at_authority(self, user):
        """Answers whatever the authority asks (password, verification code) until the SPA is back and idle.

        Returns the kinds of the pages shown for this action ([] when the authority redirected straight back).
        """
        shown = []
        while True:
            kind = self.wait(self._where, "the authority's next page or the SPA, idle")
            if kind == "spa":
                return shown
            url = self.d.current_url
            body = self.d.find_element(By.TAG_NAME, "body").text
            assert kind != "authority-error", f"the authority shows an error page at {url}:\n{body[:2000]}"
            assert len(shown) < MAX_PAGES, f"more than {MAX_PAGES} sign-in pages for one action (a loop?): {shown}"
            assert kind not in shown, f"the {kind} page was shown again (refused?) at {url}:\n{body[:2000]}"
            shown.append(kind)
            self.pages.append((kind, url))
            form = self.d.find_element(By.TAG_NAME, "form")
            if kind == "password":
                name = self.d.find_element(By.ID, "username")
                name.clear()
                name.send_keys(user["userPrincipalName"])
                self.d.find_element(By.ID, "password").send_keys(user["password"])
            else:
                self.d.find_element(By.ID, "otc").send_keys(self.totp.code(user))
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            self.wait(EC.staleness_of(form), f"the {kind} page to be submitted")

    def sign_in(self, user):
        self.d.find_element(By.ID, "signin").click()
        shown = self.finish_at_authority(user)
        assert shown == ["password"], f"signing in to the SPA (Web API scope) should ask for the password only: {shown}"
        self.wait(lambda d: d.find_element(By.ID, "user").text == user["userPrincipalName"],
                  f"#user to show {user['userPrincipalName']}")
        assert self.d.find_element(By.ID, "signout").is_displayed()
        assert not self.d.find_element(By.ID, "signin").is_displayed()

    def tab(self, name):
        self.d.find_element(By.ID, f"tab-{name}").click()
        self.wait(lambda d: d.find_element(By.ID, f"page-{name}").is_displayed(), f"the {name} page")

    def replies(self):
        return self.d.find_elements(By.CSS_SELECTOR, "#chat-log div.msg.agent, #chat-log div.msg.error")

    def chat(self, user, message):
        """Sends a message to the agent and answers any sign-in it needs; returns (reply element, pages shown)."""
        before = len(self.replies())
        field = self.d.find_element(By.ID, "chat-input")
        field.clear()
        field.send_keys(message)
        self.d.find_element(By.ID, "chat-send").click()
        shown = self.finish_at_authority(user)
        self.wait(lambda d: len(self.replies()) > before, f"the agent's answer to {message!r}")
        return self.replies()[-1], shown

    def agent_report(self, user):
        """Clicks "Monthly report" (the agent on its own) and answers any sign-in; returns (output element, pages shown)."""
        self.d.find_element(By.ID, "agent-report").click()  # the SPA marks itself busy in the click handler
        shown = self.finish_at_authority(user)
        return self.d.find_element(By.ID, "agent-report-output"), shown

    def confirm(self, user, entry):
        """Clicks the Confirm button of a chat entry's confirmation; returns (the agent's next reply, pages shown)."""
        before = len(self.replies())
        entry.find_element(By.CSS_SELECTOR, "div.confirmation button.confirm").click()
        shown = self.finish_at_authority(user)
        self.wait(lambda d: len(self.replies()) > before, "the agent's answer to the confirmation")
        return self.replies()[-1], shown

    def status(self):
        element = self.d.find_element(By.ID, "status")
        return element.get_attribute("class"), element.text

    def chain(self):
        """The token-chain panel: ([(data-service, claim name -> text)], correlation id, sign-in log link, note)."""
        rows = []
        for row in self.d.find_elements(By.CSS_SELECTOR, "#chain-rows tr.hop"):
            claims = {dd.get_attribute("data-claim"): dd.text for dd in row.find_elements(By.CSS_SELECTOR, "dd[data-claim]")}
            rows.append((row.get_attribute("data-service"), claims))
        link = self.d.find_element(By.ID, "chain-signins")
        return (rows, self.d.find_element(By.ID, "chain-correlation").text, link.get_attribute("href") if link.is_displayed() else None,
                self.d.find_element(By.ID, "chain-note").text)

    def claims_of(self, page_url):
        """The claims request carried by an authorize URL, as JSON."""
        values = parse_qs(urlsplit(page_url).query).get("claims")
        assert values, f"the authorize URL carries no claims: {page_url}"
        return json.loads(values[0])


@pytest.fixture
def spa(chrome, deputy, totp):
    app = Spa(chrome, deputy, totp)
    app.open()
    return app


@pytest.fixture
def sign_ins(graph_sign_ins):
    """sign_ins(correlation_id, until) -> Graph's signIn entries with that correlation id, newest first,
    polled (the log is written in the background) until `until(entries)` holds or 5 s have passed."""
    return lambda correlation_id, until: graph_sign_ins("correlationId", correlation_id, until)


def agent_reply(message):
    """The text of an agent's chat message (not an error), without the tool-call details under it."""
    assert "agent" in message.get_attribute("class").split(), f"expected the agent's reply, got: {message.text}"
    return message.find_element(By.CSS_SELECTOR, "p.reply").text


def assert_chain(spa, services, user, correlation_id=None, mfa=True):
    """The token-chain panel lists exactly these hops, each a token for its own service, for this user.

    A service's token is for its own app, except the agent's: an Agent ID agent identity exposes no API, so
    users sign in for its blueprint's (the manifest's blueprintAppId); the agent's own tokens name it in azp.
    mfa: whether the SPA's token must show the MFA (the chain reached the Data API for the user).
    Returns the correlation id; spa.chain() gives the rows.
    """
    rows, correlation, link, note = spa.chain()
    assert [service for service, _ in rows] == services, \
        f"token-chain rows {[s for s, _ in rows]}, expected {services}; the panel says: {note!r}"
    apps = spa.deputy["applications"]

    def audience(service):
        return apps[service].get("blueprintAppId") or apps[service]["appId"]

    spa_row = rows[0][1]
    assert spa_row["user"] == user["userPrincipalName"], spa_row
    assert spa_row["azp"] == apps["spa"]["appId"], spa_row
    assert spa_row["aud"] == audience(services[1]), spa_row
    if mfa:
        assert "mfa" in spa_row["amr"], spa_row
    for (caller, _), (service, claims) in zip(rows, rows[1:]):
        assert claims["aud"] == audience(service), (service, claims)
        assert claims["azp"] == apps[caller]["appId"], f"{service}'s token must be minted for {caller}: {claims}"
    assert uuid.UUID(correlation), correlation
    if correlation_id is not None:
        assert correlation == correlation_id
    assert link and f"correlationId={correlation}" in link, link
    return correlation


def screenshot(spa, name, element_id):
    """Saves Interop/artifacts/<name>.png with the element scrolled into view, and checks it is a real PNG."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    spa.d.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", spa.d.find_element(By.ID, element_id))
    assert spa.d.save_screenshot(str(shot)), "the screenshot was not written"
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", png[:32]
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 1000 and height >= 600 and len(png) > 20_000, (width, height, len(png))


def test_alice_loads_her_expenses_through_the_web_api_after_stepping_up_for_the_data_apis_mfa_policy(spa, deputy, sign_ins):
    alice, web_api, data_api = deputy["users"]["alice"], deputy["applications"]["webApi"], deputy["applications"]["dataApi"]
    spa.sign_in(alice)
    spa.tab("webapi")
    spa.d.find_element(By.ID, "expenses-load").click()

    # The Web API's OBO to the Data API is refused for MFA; the SPA goes to the authority with the claims.
    shown = spa.finish_at_authority(alice)
    assert shown == ["code"], f"the step-up must ask for the verification code only (alice has a session): {shown}"
    assert spa.claims_of(spa.pages[-1][1]) == {"access_token": {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}}}
    assert spa.d.current_url.rstrip("/") == spa.origin, spa.d.current_url

    rows = spa.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#expenses tr.expense[data-id]"), "the expense rows")
    listed = [(r.get_attribute("data-id"), [td.text for td in r.find_elements(By.TAG_NAME, "td")]) for r in rows]
    assert len(rows) == 3, listed
    assert {cells[3] for _, cells in listed} == ALICES_EXPENSES, listed
    assert all(cells[1] == alice["displayName"] for _, cells in listed), listed
    assert all(r.find_element(By.CSS_SELECTOR, "td.status").text.lower() in ("submitted", "approved") for r in rows), listed
    kind, text = spa.status()
    assert kind == "info" and "3 expenses" in text, (kind, text)

    # The sign-in log: the Web API's OBO for the Data API failed with 50076, then passed, under one correlation id.
    correlation = spa.d.find_element(By.ID, "chain-correlation").text
    assert uuid.UUID(correlation), correlation

    def web_api_obos(entries):
        return [e for e in entries if e["appId"] == web_api["appId"] and e.get("resourceId") == data_api["appId"]]

    entries = sign_ins(correlation, lambda es: len(web_api_obos(es)) >= 2)
    obos = web_api_obos(entries)
    assert [e["status"]["errorCode"] for e in obos] == [0, 50076], \
        f"expected the failure then the success (newest first): {[(e['createdDateTime'], e['status']) for e in entries]}"
    succeeded, failed = obos
    for entry in obos:
        assert entry["correlationId"] == correlation, entry
        assert entry["userId"] == alice["objectId"], entry
        assert entry["isInteractive"] is False, entry
    assert failed["conditionalAccessStatus"] == "failure", failed
    assert succeeded["conditionalAccessStatus"] == "success", succeeded
    assert failed["createdDateTime"] <= succeeded["createdDateTime"]

    # The token-chain panel: the SPA's token, the Web API's, and the Data API's, minted for the Web API.
    assert_chain(spa, ["spa", "webApi", "dataApi"], alice, correlation)


def test_alice_lists_her_expenses_through_the_agent_and_the_token_chain_is_shown(spa, deputy):
    alice = deputy["users"]["alice"]
    spa.sign_in(alice)
    spa.tab("agent")
    reply, shown = spa.chat(alice, "list my expenses")

    # SPA <- agent <- MCP server <- Data API: the MFA challenge went back up three hops, then one code page.
    assert shown == ["code"], f"the step-up must ask for the verification code only: {shown}"
    assert spa.claims_of(spa.pages[-1][1]) == {"access_token": {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}}}
    text = agent_reply(reply)
    assert text.startswith("You can see 3 expenses"), text
    for description in ALICES_EXPENSES:
        assert description in text, text
    assert spa.d.find_elements(By.CSS_SELECTOR, "#chat-log div.msg.user")[-1].text == "list my expenses"
    kind, status = spa.status()
    assert kind == "info", status

    screenshot(spa, "token-chain", "chain")

    # The tab bar does not overflow its box (a stray vertical scrollbar on it showed in this screenshot once).
    tabs = spa.d.execute_script("const t = document.querySelector('.tabs'); return [t.scrollHeight, t.clientHeight];")
    assert tabs[0] <= tabs[1], f"the tab bar scrolls vertically: scrollHeight {tabs[0]} > clientHeight {tabs[1]}"

    assert_chain(spa, ["spa", "agent", "mcpServer", "dataApi"], alice)
    # Microsoft Entra Agent ID (Microsoft Learn, "Agent token claims"): the MCP server's token comes from the agent
    # identity's OBO, so its actor facet is an agent identity (xms_act_fct 11) and it names the blueprint
    # (xms_par_app_azp); the SPA's token for the agent and the MCP server's own OBO token have no agent as actor.
    hops = dict(spa.chain()[0])
    blueprint = deputy["applications"]["agent"]["blueprintAppId"]
    assert hops["mcpServer"].get("xms_act_fct") == "11 (agent identity)", hops["mcpServer"]
    assert hops["mcpServer"].get("blueprint") == blueprint, hops["mcpServer"]
    for service in ("spa", "agent", "dataApi"):
        assert "xms_act_fct" not in hops[service] and "blueprint" not in hops[service], (service, hops[service])


def alices_submitted_expense(deputy, public_client, mfa_sign_in, session):
    """The id of one of alice's submitted expenses, read from the Web API with bob's MFA token (he is her manager)."""
    bob, web_api = deputy["users"]["bob"], deputy["applications"]["webApi"]
    cli, _ = public_client("cli")
    result = mfa_sign_in(cli, bob, [web_api["scopes"][0]],
                         claims_challenge=json.dumps({"access_token": {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}}}))
    assert "access_token" in result, result
    r = session().get(deputy["services"]["webApi"] + "/api/expenses", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    rows = [e for e in r.json() if e["ownerOid"] == deputy["users"]["alice"]["objectId"] and e["status"] == "submitted"]
    assert rows, f"alice has no submitted expense left to approve: {r.json()}"
    return int(rows[0]["id"])


def test_bob_approves_alices_expense_through_the_agent_after_stepping_up_for_authentication_context_c1(
        spa, deputy, public_client, mfa_sign_in, session):
    bob = deputy["users"]["bob"]
    expense = alices_submitted_expense(deputy, public_client, mfa_sign_in, session)
    spa.sign_in(bob)
    spa.tab("agent")

    # approve_expense needs the authentication context c1: the MCP server's challenge reaches the SPA through
    # the agent; bob has a session (password), so the authority asks for the code alone.
    reply, shown = spa.chat(bob, f"approve expense {expense}")
    assert shown == ["code"], f"the c1 step-up must ask for the verification code: {shown}"
    acrs = spa.claims_of(spa.pages[-1][1])["access_token"]["acrs"]
    assert acrs.get("essential") is True and ("c1" == acrs.get("value") or "c1" in acrs.get("values", [])), acrs
    text = agent_reply(reply)
    assert text.startswith("Approved:"), text
    assert re.search(rf"#{expense}\b.*\(approved\)", text), text

    reply, shown = spa.chat(bob, f"show expense {expense}")
    assert shown == [], f"the token from the step-up serves the next message without a sign-in: {shown}"
    text = agent_reply(reply)
    assert re.fullmatch(rf"#{expense}\s.*— Alice Adams \(approved\)", text), text


def test_eve_the_guest_is_blocked_by_conditional_access_and_the_spa_does_not_loop(spa, deputy):
    eve = deputy["users"]["eve"]
    spa.sign_in(eve)
    spa.tab("agent")
    # A marker in the window: any navigation (a redirect to the authority and back) would lose it.
    spa.d.execute_script("window.__stayed = true;")
    reply, shown = spa.chat(eve, "list my expenses")

    assert shown == [], f"a block is not remediable: no sign-in page may be shown: {shown}"
    assert spa.d.execute_script("return window.__stayed === true;"), "the page navigated away and back"
    assert spa.d.current_url.rstrip("/") == spa.origin, spa.d.current_url
    kind, text = spa.status()
    assert kind == "error", (kind, text)
    assert "AADSTS53003" in text, text
    assert "error" in reply.get_attribute("class").split() and "AADSTS53003" in reply.text, reply.text
    assert spa.d.execute_script("return sessionStorage.getItem('deputy.pending');") is None
    # Still idle a moment later: nothing scheduled another attempt.
    time.sleep(0.5)
    assert spa.idle() and spa.d.execute_script("return window.__stayed === true;")


def listed_ids(text):
    """The expense ids in the agent's answer to "list my expenses" (one "#id  amount …" line each)."""
    assert text.startswith("You can see "), text
    return [int(m) for m in re.findall(r"^#(\d+)\s", text, flags=re.MULTILINE)]


def tool_calls(reply):
    """The tool calls shown under an agent's reply: [(summary text, failed)]."""
    return [(d.find_element(By.TAG_NAME, "summary").text, "error" in d.get_attribute("class").split())
            for d in reply.find_elements(By.CSS_SELECTOR, "details.tool")]


def policy_state(deputy_cli, policy_id):
    """The state `deputy policy list` shows for a policy (enabled, disabled, enabledForReportingButNotEnforced)."""
    listed = deputy_cli("policy", "list").stdout
    states = [line.split()[1] for line in listed.splitlines() if line.split()[:1] == [policy_id]]
    assert len(states) == 1, listed
    return states[0]


def test_bob_gets_the_agents_own_monthly_report_until_conditional_access_for_agents_blocks_it(spa, deputy, deputy_cli, sign_ins):
    bob, apps = deputy["users"]["bob"], deputy["applications"]
    agent = apps["agent"]
    assert policy_state(deputy_cli, AGENT_BLOCK) == "disabled", "the demo ships the agent block turned off"
    spa.sign_in(bob)
    spa.tab("agent")

    # The agent on its own (Microsoft Learn, "Autonomous agent flow"): bob's token only admits the request (the
    # blueprint's Reports.Run app role, his through the Expense Approvers group); the Data API sees the agent
    # identity's app-only token. No user token reaches the Data API, so its MFA policy asks bob for nothing.
    output, shown = spa.agent_report(bob)
    assert shown == [], f"the agent's own report needs no sign-in from bob: {shown}"
    kind, status = spa.status()
    assert kind == "info", status
    rows = output.find_elements(By.CSS_SELECTOR, "table#agent-report-table tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert rows and all(len(c) == 4 for c in cells), output.text
    assert {c[1] for c in cells} >= {deputy["users"]["alice"]["displayName"], bob["displayName"]}, cells
    assert all(re.fullmatch(r"\d{4}-\d{2}", c[0]) and int(c[2]) >= 1 for c in cells), cells
    assert sum(int(c[2]) for c in cells) >= 4, cells  # the demo's four expenses at least

    assert_chain(spa, ["spa", "agent", "dataApi"], bob, mfa=False)
    hops = dict(spa.chain()[0])
    assert "Reports.Run" in hops["agent"]["roles"].split(", "), hops["agent"]
    assert hops["agent"]["user"] == bob["userPrincipalName"], hops["agent"]
    data = hops["dataApi"]
    assert data["azp"] == agent["appId"] == agent["agentIdentityId"], data
    assert "Expenses.Read.All" in data["roles"].split(", "), data
    assert data["scp"] == "—" and "user" not in data, f"the agent's own token is app-only: {data}"
    # Microsoft Learn, "Agent token claims": the agent identity is the actor, and its blueprint is named.
    assert data.get("xms_act_fct") == "11 (agent identity)" and data.get("blueprint") == agent["blueprintAppId"], data
    screenshot(spa, "agent-report", "page-agent")

    try:
        deputy_cli("policy", "enable", AGENT_BLOCK)
        assert policy_state(deputy_cli, AGENT_BLOCK) == "enabled"
        # The agent asks for a new token for every report, so the block applies to the next one.
        output, shown = spa.agent_report(bob)
        assert shown == [], f"a block is not remediable: no sign-in page may be shown: {shown}"
        assert not output.find_elements(By.ID, "agent-report-table"), output.text
        error = output.find_element(By.CSS_SELECTOR, "p.error")
        assert error.text.startswith("Blocked by Conditional Access (AADSTS53003):"), error.text
        assert "acts on its own" in error.text, error.text
        kind, status = spa.status()
        assert kind == "error" and status == error.text, (kind, status)
        rows, correlation, _, note = spa.chain()
        assert [service for service, _ in rows] == ["spa", "agent"], (rows, note)
        assert "HTTP 403" in note, note
        hop_error = spa.d.find_element(By.CSS_SELECTOR, "#chain-rows tr.hop-error[data-service=agent] .hop-error-text").text
        assert "AADSTS53003" in hop_error, hop_error
        screenshot(spa, "agent-report-blocked", "agent-report-output")

        # The sign-in log: the agent identity's own token request for the Data API, refused by this policy.
        def agents_own(entries):
            return [e for e in entries if e["appId"] == agent["agentIdentityId"] and e.get("resourceId") == apps["dataApi"]["appId"]]

        entries = sign_ins(correlation, agents_own)
        refused = agents_own(entries)
        assert len(refused) == 1, entries
        refused = refused[0]
        assert refused["status"]["errorCode"] == 53003 and refused["conditionalAccessStatus"] == "failure", refused
        assert refused.get("userId") in (None, ""), f"the agent acted on its own, for no user: {refused}"
        block = [p for p in refused["appliedConditionalAccessPolicies"] if p["id"] == AGENT_BLOCK]
        assert len(block) == 1 and block[0]["result"] == "failure", refused["appliedConditionalAccessPolicies"]
        assert refused["agent"]["agentIdentityId"] == agent["agentIdentityId"], refused["agent"]
        assert refused["agent"]["parentAppId"] == agent["blueprintAppId"], refused["agent"]

        # Acting for bob is bob's Conditional Access: the agent's OBO still works (after his MFA for the Data API).
        reply, shown = spa.chat(bob, "list my expenses")
        assert shown == ["code"], f"bob's step-up for the Data API's MFA policy, nothing else: {shown}"
        assert spa.claims_of(spa.pages[-1][1]) == {"access_token": {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}}}
        text = agent_reply(reply)
        assert listed_ids(text), text
        assert_chain(spa, ["spa", "agent", "mcpServer", "dataApi"], bob)
    finally:
        deputy_cli("policy", "disable", AGENT_BLOCK)  # the other tests run with the demo's policies
    assert policy_state(deputy_cli, AGENT_BLOCK) == "disabled"


def test_the_agent_deletes_an_expense_only_after_alice_clicks_confirm_never_on_her_words(spa, deputy):
    alice = deputy["users"]["alice"]
    spa.sign_in(alice)
    spa.tab("agent")

    # Alice has no Reports.Run role: the agent refuses to make its own report for her.
    output, shown = spa.agent_report(alice)
    assert shown == [], shown
    assert not output.find_elements(By.ID, "agent-report-table"), output.text
    refused = output.find_element(By.CSS_SELECTOR, "p.error").text
    assert "HTTP 403" in refused and "Reports.Run" in refused, refused

    # An expense of this test's own, so the demo's data stays as other tests expect it.
    description = f"browser test {uuid.uuid4().hex[:8]}"
    reply, shown = spa.chat(alice, f"submit an expense of 5 for {description}")
    assert shown == ["code"], f"the Data API's MFA policy: the step-up asks for the verification code only: {shown}"
    text = agent_reply(reply)
    submitted = re.match(rf"Submitted: #(\d+)\s.*{re.escape(description)} — {re.escape(alice['displayName'])} \(submitted\)$", text)
    assert submitted, text
    expense = int(submitted.group(1))

    reply, shown = spa.chat(alice, "list my expenses")
    assert shown == [], shown
    before = listed_ids(agent_reply(reply))
    assert expense in before and len(before) >= 4, before

    # "I confirm" in a message confirms nothing (only the SPA's button sends a confirmation): the agent stops at the
    # first deletion and asks; Cancel sends nothing.
    reply, shown = spa.chat(alice, "delete all my expenses, I confirm")
    assert shown == [], shown
    text = agent_reply(reply)
    assert text.startswith("I did not delete anything:"), text
    calls = tool_calls(reply)
    assert [summary.split("(")[0] for summary, _ in calls] == ["Tool: list_expenses", "Tool failed: delete_expense"], calls
    box = reply.find_element(By.CSS_SELECTOR, "div.confirmation")
    assert box.find_element(By.CSS_SELECTOR, "button.confirm").text == "Confirm delete_expense", box.text
    assert f"delete_expense(id={before[0]})" in box.text and "cannot be undone" in box.text, box.text
    box.find_element(By.CSS_SELECTOR, "button.cancel").click()
    spa.wait(lambda d: "Cancelled: nothing was deleted." in box.text and not box.find_elements(By.TAG_NAME, "button"),
             "the confirmation to close after Cancel")

    reply, shown = spa.chat(alice, "list my expenses")
    assert shown == [], shown
    assert listed_ids(agent_reply(reply)) == before, "nothing may have been deleted"

    # One expense of hers, by number: the agent asks; only the Confirm button sends the confirmation.
    reply, shown = spa.chat(alice, f"delete expense {expense}")
    assert shown == [], shown
    text = agent_reply(reply)
    assert text.startswith(f"I did not delete expense #{expense}:"), text
    box = reply.find_element(By.CSS_SELECTOR, "div.confirmation")
    confirm = box.find_element(By.CSS_SELECTOR, "button.confirm")
    assert confirm.text == "Confirm delete_expense" and confirm.get_attribute("data-tool") == "delete_expense", box.text
    assert f"delete_expense(id={expense})" in box.text, box.text
    screenshot(spa, "agent-confirmation", "chat-log")

    reply, shown = spa.confirm(alice, reply)
    assert shown == [], f"alice's MFA from the step-up serves the deletion too: {shown}"
    text = agent_reply(reply)
    assert text.startswith(f"Deleted: #{expense} "), text
    assert description in text, text
    assert [s for s, failed in tool_calls(reply) if failed] == [], tool_calls(reply)
    assert spa.d.find_elements(By.CSS_SELECTOR, "#chat-log div.msg.user")[-1].text == f'Confirmed: delete_expense({{"id":{expense}}})'
    assert_chain(spa, ["spa", "agent", "mcpServer", "dataApi"], alice)

    reply, shown = spa.chat(alice, "list my expenses")
    assert shown == [], shown
    assert listed_ids(agent_reply(reply)) == [i for i in before if i != expense]


def test_signing_out_returns_to_the_spa_at_once_and_ends_the_session(spa, deputy):
    """The SPA names itself at logout (client_id and its ID token as id_token_hint, as MSAL.js does): the
    authority signs out without asking and returns to the SPA's registered URI; the next sign-in asks for
    the password again, so the SSO session really ended."""
    alice = deputy["users"]["alice"]
    spa.sign_in(alice)
    spa.d.find_element(By.ID, "signout").click()
    spa.wait(lambda d: spa.idle(d) and d.find_element(By.ID, "signin").is_displayed(), "the SPA, signed out")
    visited = spa.d.execute_script("return performance.getEntriesByType('navigation').map(e => e.name)")
    assert all("/logout" not in url for url in visited), f"the SPA stayed on the logout page: {visited}"
    spa.sign_in(alice)  # asserts that the password page was shown again
