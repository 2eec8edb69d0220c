"""The chain as a person meets it: the real SPA in headless Chromium, the authority's sign-in pages, step-up.

Each test gets its own browser (the `chrome` fixture: a new profile, so no authority session or SPA
sessionStorage is shared). The SPA marks itself idle with body[data-busy="false"]; every wait is for that
plus the DOM the step should produce, bounded by WAIT seconds. Verification codes come from the `totp`
fixture when the authority's code page is shown, so each is one the authority has never seen.

The Admin page (Microsoft Graph with the signed-in user's token) and continuous access evaluation change the tenant
(sessions revoked, users disabled, grants deleted), so their tests run on an instance of this module's own that
serves the SPA's files from the working tree (--spa-assets), each person in a browser of their own (`own_spa`).
"""

import json
import os
import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import msal
import pytest
import requests
from selenium.common.exceptions import (JavascriptException, NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import conftest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 20  # seconds, for any one step
MAX_PAGES = 6  # authority pages one action may show before it counts as a loop
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MFA_FOR_SQL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
# "Block the expense agent acting on its own": Conditional Access for agents (Microsoft Learn, "Conditional Access
# for Agent ID"), targeting the agent identity (includeAgentIdServicePrincipals) with a block; disabled in the demo.
AGENT_BLOCK = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e05"
ALICES_EXPENSES = {"Train to the customer workshop", "Hotel, one night", "Team lunch"}  # the demo tenant's seed
# The SPA merges its client capability into every claims request (as MSAL.js with clientCapabilities ["CP1"]): it can
# answer claims challenges, so it gets continuous access evaluation tokens.
CP1 = {"xms_cc": {"values": ["cp1"]}}
# The step-up for "Require MFA for Contoso SQL", as the SPA asks for it.
MFA_CLAIMS = {"access_token": {"capolids": {"essential": True, "values": [MFA_FOR_SQL]}, **CP1}}


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

    # --- the Admin page (Microsoft Graph with the signed-in user's delegated token) ---

    def admin_click(self, user, element):
        """Clicks an Admin page button (the SPA marks itself busy in the click handler) and answers any sign-in;
        returns the pages shown."""
        element.click()
        return self.finish_at_authority(user)

    def admin_load(self, user):
        """Opens the Admin page and clicks "Load directory"; returns the pages shown."""
        self.tab("admin")
        return self.admin_click(user, self.d.find_element(By.ID, "admin-load"))

    def admin_error(self):
        """The Admin page's error (a failed read, e.g. not an administrator), or None when none is shown."""
        error = self.d.find_element(By.ID, "admin-error")
        return error.text if error.is_displayed() else None

    def admin_user(self, upn):
        """The Users row of a user principal name."""
        rows = self.d.find_elements(By.CSS_SELECTOR, f"#admin-users tr.admin-user[data-upn='{upn}']")
        assert len(rows) == 1, f"{len(rows)} rows for {upn} in: {self.d.find_element(By.ID, 'admin-users').text}"
        return rows[0]

    def admin_table(self, table_id, row_class):
        """[(row element, [cell texts])] of an Admin page table."""
        rows = self.d.find_elements(By.CSS_SELECTOR, f"#{table_id} tr.{row_class}")
        return [(row, [td.text for td in row.find_elements(By.TAG_NAME, "td")]) for row in rows]


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
    assert spa.claims_of(spa.pages[-1][1]) == MFA_CLAIMS
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
    assert spa.claims_of(spa.pages[-1][1]) == MFA_CLAIMS
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
        assert spa.claims_of(spa.pages[-1][1]) == MFA_CLAIMS
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


# --- the Admin page and continuous access evaluation, on an instance of this module's own ---------------------------
# Revoking alice's sessions, disabling users and revoking grants change the tenant for every later test, so these
# tests run on their own `deputy up --tls --test-controls`, which serves the SPA's files from the working tree
# (--spa-assets), with browsers that trust that instance's server certificate.

SPA_ASSETS = conftest.REPO / "Sources" / "DeputySamples" / "SPA" / "Assets"
SIGN_IN_REVOKED = 50173  # AADSTS50173: the grant was revoked (a session revoked by an administrator)


class OwnChain:
    """This module's instance: its manifest, clock and authenticator, the SPKI hash its browsers trust, and Graph
    read as the admin app (client credentials)."""

    def __init__(self, manifest, clock):
        self.manifest = manifest
        self.clock = clock
        self.totp = conftest.Authenticator(clock)
        self.ca = manifest["caCertificate"]
        self.graph = manifest["graphBaseUrl"].rstrip("/")
        from cryptography import x509
        ca_cert = x509.load_pem_x509_certificate(Path(self.ca).read_bytes())
        server = x509.load_pem_x509_certificate((Path(self.ca).parent / "server.pem").read_bytes())
        server.verify_directly_issued_by(ca_cert)
        self.spki = conftest._spki_sha256(server)

    def http(self):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        return s

    def admin_token(self):
        admin = self.manifest["applications"]["admin"]
        with self.http() as s:
            app = msal.ConfidentialClientApplication(admin["appId"], client_credential=admin["clientSecret"],
                                                     authority=self.manifest["authority"], instance_discovery=False,
                                                     http_client=s)
            token = app.acquire_token_for_client([GRAPH_SCOPE])
        assert "access_token" in token, token
        return token["access_token"]

    def graph_call(self, method, path, **kwargs):
        with self.http() as s:
            return s.request(method, self.graph + path, headers={"Authorization": f"Bearer {self.admin_token()}"}, **kwargs)

    def sign_ins(self, upn, until):
        """Graph's signIn entries of a user, newest first, polled (the log is written in the background) until
        `until(entries)` holds or 5 s have passed."""
        query = quote(f"userPrincipalName eq '{upn}'")
        deadline = time.monotonic() + 5
        while True:
            r = self.graph_call("GET", f"/v1.0/auditLogs/signIns?$top=50&$filter={query}")
            assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:1000]}"
            entries = r.json()["value"]
            if until(entries) or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)


@pytest.fixture(scope="module")
def own_chain(tmp_path_factory):
    problem = conftest._browser_unavailable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need Chromium in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    with conftest.own_instance(tmp_path_factory, "deputy-admin-page", "--spa-assets", str(SPA_ASSETS),
                               stop_timeout=3) as (manifest, _, _, clock, _):
        yield OwnChain(manifest, clock)


def _chromium(spki):
    """A new headless Chromium as the `chrome` fixture starts it, trusting the server certificate with this SPKI hash."""
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = conftest.CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000",
                     "--no-first-run", "--no-default-browser-check", f"--ignore-certificate-errors-spki-list={spki}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(conftest.CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture
def own_spa(request, own_chain):
    """own_spa(name) -> the SPA of this module's instance, loaded in a new browser of its own (own profile: no
    cookie or sessionStorage shared with another). On failure each browser's screenshot, page and console log go to
    Interop/artifacts/<test>-<name>.*"""
    drivers = []

    def open_spa(name):
        driver = _chromium(own_chain.spki)
        drivers.append((name, driver))
        app = Spa(driver, own_chain.manifest, own_chain.totp)
        app.open()
        return app

    try:
        yield open_spa
    finally:
        report = getattr(request.node, "report_call", None)
        for name, driver in drivers:
            if report is not None and report.failed:
                conftest._save_browser_artifacts(driver, f"{request.node.name}-{name}")
            driver.quit()


def test_after_bob_revokes_alices_sessions_on_the_admin_page_the_chain_sends_her_to_sign_in_again(own_spa, own_chain):
    manifest = own_chain.manifest
    alice, bob = manifest["users"]["alice"], manifest["users"]["bob"]
    alice_spa = own_spa("alice")
    alice_spa.sign_in(alice)
    alice_spa.tab("agent")
    reply, shown = alice_spa.chat(alice, "list my expenses")
    assert shown == ["code"], f"the Data API's MFA policy: the step-up asks for the verification code only: {shown}"
    assert agent_reply(reply).startswith("You can see 3 expenses"), agent_reply(reply)
    # Continuous access evaluation tokens where the resource evaluates access continuously: the MCP server's and the
    # Data API's (the agent's OBO and the MCP server's asked for cp1). xms_cc is an optional claim a resource asks
    # for; the agent's blueprint does not, so the SPA's token for the agent has none, though the SPA asked for cp1.
    hops = dict(alice_spa.chain()[0])
    for service in ("mcpServer", "dataApi"):
        assert hops[service].get("xms_cc") == "cp1 (continuous access evaluation)", json.dumps(hops)

    # Bob, in a browser of his own: the Admin page lists the directory with his delegated Graph token.
    bob_spa = own_spa("bob")
    bob_spa.sign_in(bob)
    shown = bob_spa.admin_load(bob)
    assert shown == [], f"bob's Graph token comes from his refresh token, without a sign-in page: {shown}"
    assert bob_spa.admin_error() is None, bob_spa.admin_error()
    row = bob_spa.admin_user(alice["userPrincipalName"])
    assert row.find_element(By.CSS_SELECTOR, "td.enabled").text == "Yes", row.text
    # A critical event counts in whole seconds: move the authority's clock on, so every token alice has is older.
    own_chain.clock.advance(2)
    shown = bob_spa.admin_click(bob, row.find_element(By.CSS_SELECTOR, "button.user-revoke"))
    assert shown == [], shown
    row = bob_spa.admin_user(alice["userPrincipalName"])
    result = row.find_element(By.CSS_SELECTOR, "td.result")
    assert "error" not in result.get_attribute("class").split() and result.text.startswith("Sessions revoked at"), result.text
    kind, status = bob_spa.status()
    assert kind == "info" and status.startswith(f"Revoked the sign-in sessions of {alice['userPrincipalName']}"), (kind, status)
    revoked_at = own_chain.clock.now()
    # The chain's resources read the authority's critical events at most a second apart (by the authority's clock).
    own_chain.clock.advance(2)

    # Alice's earlier tokens are refused: the claims challenge (nbf) reaches the SPA, which sends her to sign in
    # again; her session was revoked too, so the authority asks for the password, then the code (MFA for the Data API).
    # A new session has no MFA yet: the Data API's MFA policy is a second challenge, for the same message.
    reply, shown = alice_spa.chat(alice, "list my expenses")
    assert shown == ["password", "code"], f"alice must sign in again (password), then step up (code): {shown}"
    assert alice_spa.claims_of(alice_spa.pages[-1][1]) == MFA_CLAIMS
    claims = alice_spa.claims_of(alice_spa.pages[-2][1])["access_token"]
    assert claims.get("xms_cc") == CP1["xms_cc"], claims
    nbf = claims.get("nbf")
    assert nbf and nbf.get("essential") is True, claims
    assert abs(int(nbf["value"]) - revoked_at) <= 3, (nbf, revoked_at)
    text = agent_reply(reply)
    assert text.startswith("You can see 3 expenses"), text
    for description in ALICES_EXPENSES:
        assert description in text, text
    assert_chain(alice_spa, ["spa", "agent", "mcpServer", "dataApi"], alice)
    kind, status = alice_spa.status()
    assert kind == "info", status

    # The sign-in log (Graph, as the admin app), since the revocation: alice signed in to the SPA again with her
    # password (a new session, single factor), then with the code for the Data API's MFA policy. A refresh token
    # presented after the revocation would be refused with AADSTS50173; none may have passed.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(revoked_at)))

    def interactive(entries):
        return [e for e in reversed(entries) if e["isInteractive"] and e["status"]["errorCode"] == 0
                and e["appId"] == manifest["applications"]["spa"]["appId"] and e["createdDateTime"] >= since]

    entries = own_chain.sign_ins(alice["userPrincipalName"], lambda es: len(interactive(es)) >= 2)
    signed_in = [(e["createdDateTime"], e["authenticationMethodsUsed"], e["authenticationRequirement"]) for e in interactive(entries)]
    assert len(signed_in) == 2, f"{signed_in}\n{[(e['createdDateTime'], e['appDisplayName'], e['status']) for e in entries[:12]]}"
    (_, methods, requirement), (_, step_up, _) = signed_in
    assert methods == ["pwd"] and requirement == "singleFactorAuthentication", signed_in
    assert "mfa" in step_up, signed_in
    refreshed = [e for e in entries if e["createdDateTime"] >= since and e.get("authenticationProtocol") == "refresh_token"]
    assert all(e["status"]["errorCode"] == SIGN_IN_REVOKED for e in refreshed if e["createdDateTime"] < signed_in[0][0]), refreshed


def created(response, what):
    assert response.status_code == 201, f"creating {what}: HTTP {response.status_code}: {response.text[:500]}"
    return response.json()


def test_bob_administers_users_grants_and_policies_on_the_admin_page_and_alice_is_refused(own_spa, own_chain):
    manifest = own_chain.manifest
    alice, bob = manifest["users"]["alice"], manifest["users"]["bob"]
    # A user and a grant of this test's own (created as the admin app), so the demo's stay as the other tests expect.
    tag = uuid.uuid4().hex[:8]
    upn = f"admin-page-{tag}@{manifest['tenantDomain']}"
    user = created(own_chain.graph_call("POST", "/v1.0/users", json={
        "accountEnabled": True, "displayName": f"Admin Page Test {tag}", "mailNickname": f"admin-page-{tag}",
        "userPrincipalName": upn, "passwordProfile": {"password": f"Test!{tag}Deputy", "forceChangePasswordNextSignIn": False}}),
        "a test user")
    principals = {sp["appId"]: sp["id"] for sp in own_chain.graph_call(
        "GET", "/v1.0/servicePrincipals?$select=id,appId,displayName").json()["value"]}
    apps = manifest["applications"]
    grant = created(own_chain.graph_call("POST", "/v1.0/oauth2PermissionGrants", json={
        "clientId": principals[apps["reports"]["appId"]], "resourceId": principals[apps["reportsApi"]["appId"]],
        "consentType": "Principal", "principalId": user["id"], "scope": "access_as_user"}), "a test grant")

    bob_spa = own_spa("bob")
    bob_spa.sign_in(bob)
    shown = bob_spa.admin_load(bob)
    assert shown == [], f"bob's Graph token comes from his refresh token, without a sign-in page: {shown}"
    assert bob_spa.admin_error() is None, bob_spa.admin_error()

    # Users: every user of the directory, with the test user enabled.
    users = {row.get_attribute("data-upn"): cells for row, cells in bob_spa.admin_table("admin-users", "admin-user")}
    for person in (alice, bob, manifest["users"]["eve"]):
        assert users[person["userPrincipalName"]][:3] == [person["displayName"], person["userPrincipalName"], "Yes"], users
    assert users[upn][:3] == [f"Admin Page Test {tag}", upn, "Yes"], users

    # Disable, then enable the test user: the row and Graph agree after each.
    for button, enabled, word in (("Disable", False, "Disabled"), ("Enable", True, "Enabled")):
        toggle = bob_spa.admin_user(upn).find_element(By.CSS_SELECTOR, "button.user-toggle")
        assert toggle.text == button, toggle.text
        shown = bob_spa.admin_click(bob, toggle)
        assert shown == [], shown
        row = bob_spa.admin_user(upn)
        assert row.get_attribute("data-enabled") == str(enabled).lower(), row.text
        assert row.find_element(By.CSS_SELECTOR, "td.enabled").text == ("Yes" if enabled else "No"), row.text
        result = row.find_element(By.CSS_SELECTOR, "td.result")
        assert "error" not in result.get_attribute("class").split() and result.text.startswith(f"{word} at "), result.text
        assert bob_spa.status() == ("info", f"{word} {upn}."), bob_spa.status()
        r = own_chain.graph_call("GET", f"/v1.0/users/{user['id']}?$select=accountEnabled")
        assert r.status_code == 200 and r.json()["accountEnabled"] is enabled, r.text
        if not enabled:
            screenshot(bob_spa, "admin-users", "admin-users")

    # Conditional Access: the agent block to report-only and back to off, through the state control.
    def policy_row():
        return bob_spa.d.find_element(By.CSS_SELECTOR, f"#admin-policies tr.admin-policy[data-id='{AGENT_BLOCK}']")

    assert policy_row().get_attribute("data-state") == "disabled", policy_row().text
    try:
        for state, label in (("enabledForReportingButNotEnforced", "Report-only"), ("disabled", "Off")):
            control = policy_row().find_element(By.CSS_SELECTOR, f"button.policy-state[data-state='{state}']")
            assert control.get_attribute("aria-pressed") == "false" and control.is_enabled(), control.text
            shown = bob_spa.admin_click(bob, control)
            assert shown == [], shown
            row = policy_row()
            assert row.get_attribute("data-state") == state and row.find_element(By.CSS_SELECTOR, "td.state").text == label, row.text
            assert row.find_element(By.CSS_SELECTOR, f"button.policy-state[data-state='{state}']").get_attribute("aria-pressed") == "true"
            assert row.find_element(By.CSS_SELECTOR, "td.result").text.startswith(f"Set to {label} at "), row.text
            r = own_chain.graph_call("GET", f"/v1.0/identity/conditionalAccess/policies/{AGENT_BLOCK}")
            assert r.status_code == 200 and r.json()["state"] == state, r.text
    finally:
        own_chain.graph_call("PATCH", f"/v1.0/identity/conditionalAccess/policies/{AGENT_BLOCK}", json={"state": "disabled"})

    # Delegated permission grants: the test grant, for the test user alone; Revoke deletes it.
    grants = {row.get_attribute("data-id"): cells for row, cells in bob_spa.admin_table("admin-grants", "admin-grant")}
    assert grant["id"] in grants, grants
    assert grants[grant["id"]][1:4] == ["Principal", upn, "access_as_user"], grants[grant["id"]]
    shown = bob_spa.admin_click(bob, bob_spa.d.find_element(
        By.CSS_SELECTOR, f"#admin-grants tr.admin-grant[data-id='{grant['id']}'] button.grant-revoke"))
    assert shown == [], shown
    kind, status = bob_spa.status()
    assert kind == "info" and status.startswith("Revoked the grant of access_as_user on "), (kind, status)
    assert not bob_spa.d.find_elements(By.CSS_SELECTOR, f"#admin-grants tr.admin-grant[data-id='{grant['id']}']")
    assert own_chain.graph_call("GET", f"/v1.0/oauth2PermissionGrants/{grant['id']}").status_code == 404

    # Alice is no administrator: Graph's 403, said plainly, and nothing of the directory shown.
    alice_spa = own_spa("alice")
    alice_spa.sign_in(alice)
    shown = alice_spa.admin_load(alice)
    assert shown == [], shown
    error = alice_spa.admin_error()
    assert error and error.startswith(f"{alice['userPrincipalName']} is not an administrator: Microsoft Graph refused the "
                                      "request (HTTP 403 Authorization_RequestDenied): Insufficient privileges"), error
    assert not alice_spa.d.find_element(By.ID, "admin-content").is_displayed()
    assert alice_spa.status() == ("error", error), alice_spa.status()
    screenshot(alice_spa, "admin-not-an-administrator", "page-admin")
    # The rest of the SPA still works for her.
    alice_spa.tab("agent")
    reply, shown = alice_spa.chat(alice, "list my expenses")
    assert agent_reply(reply).startswith("You can see 3 expenses"), agent_reply(reply)


def test_the_admin_page_shows_the_latest_sign_ins(own_spa, own_chain):
    bob = own_chain.manifest["users"]["bob"]
    bob_spa = own_spa("bob")
    bob_spa.sign_in(bob)
    assert bob_spa.admin_load(bob) == []
    note = bob_spa.d.find_element(By.ID, "admin-signins-note")
    assert not note.is_displayed(), note.text
    logged = bob_spa.admin_table("admin-signins", "admin-signin")
    assert 1 <= len(logged) <= 20, len(logged)
    # bob's own sign-in to the SPA is among the latest, with its result, Conditional Access status and correlation id.
    mine = [(row.get_attribute("data-error-code"), cells) for row, cells in logged if row.get_attribute("data-upn") == bob["userPrincipalName"]]
    assert any(code == "0" and cells[2] == "Contoso Expenses (SPA)" and cells[4] == "Success" and uuid.UUID(cells[6])
               for code, cells in mine), mine
    screenshot(bob_spa, "admin-sign-in-log", "admin-signins")


def test_the_admin_page_names_the_apps_of_each_grant(own_spa, own_chain):
    bob = own_chain.manifest["users"]["bob"]
    bob_spa = own_spa("bob")
    bob_spa.sign_in(bob)
    assert bob_spa.admin_load(bob) == []
    note = bob_spa.d.find_element(By.ID, "admin-grants-note")
    assert not note.is_displayed(), note.text
    grants = [cells[0] for _, cells in bob_spa.admin_table("admin-grants", "admin-grant")]
    assert "Contoso Expenses (SPA) → Contoso Expenses Web API" in grants, grants
