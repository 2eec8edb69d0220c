"""`deputy audit` checks middle tiers against the delegation rules: deputy up's own services pass every rule, the
Python middle tier in Interop/audit_targets passes when correct and fails exactly the rules each of its flaws breaks,
and the audit leaves the tenant as it found it, also when it is interrupted (SIGINT) or killed (SIGKILL).

The audit changes the tenant for its run (a temporary Conditional Access policy, a consent grant taken away for one
call) and uses one TOTP step of alice per run, so this module runs its own `deputy up --tls --test-controls` on its
own port block and data directory, never the session's. A verification code is accepted once per 30-second step,
so the authority's clock is moved 30 s ahead before each audit instead of letting the audit wait for the next step.
The Python tiers are started after that move with --clock-offset, the offset of the authority's clock: they check
the tokens' iat/nbf/exp against the authority's time, in which the tokens were issued.
"""

import difflib
import json
import math
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

import conftest

TIER = conftest.REPO / "Interop" / "audit_targets" / "middle_tier.py"
AUDIT_TIMEOUT = 90  # seconds; an audit that had to wait for a verification code takes up to ~31 s

RULES = ["rejects-missing-token", "rejects-wrong-audience", "rejects-expired-token", "rejects-bad-signature",
         "rejects-alg-none", "obo-downstream", "no-passthrough", "relays-claims-challenge", "relays-consent-required",
         "no-token-leak"]
MCP_RULES = ["mcp-resource-metadata", "mcp-401-challenge", "mcp-insufficient-scope"]
TEMPORARY_POLICY = "deputy audit: MFA for dataApi (temporary)"  # for the default downstream, the Data API
JOURNAL = "audit-journal.json"


def service_target(manifest, service):
    """The `deputy audit` arguments (without --manifest) that audit one of deputy up's own middle tiers."""
    url = manifest["services"][service].rstrip("/")
    return {
        "webApi": ["--target", f"{url}/api/expenses", "--app", "webApi"],
        "agent": ["--target", f"{url}/chat", "--method", "POST", "--body", json.dumps({"message": "list my expenses"}),
                  "--app", "agentBlueprint", "--client", "agent", "--downstream", "mcpServer"],
        "mcpServer": ["--target", f"{url}/mcp", "--mcp", "--tool", "list_expenses", "--step-up-tool", "approve_expense",
                      "--app", "mcpServer"],
    }[service]


# --- this module's deputy up -----------------------------------------------------------------------

@dataclass
class Instance:
    manifest: dict
    manifest_path: Path
    data_dir: Path
    clock: conftest.AuthorityClock
    baseline: dict = field(default_factory=dict)  # the tenant before any audit: {"policies": ..., "grants": ...}

    @property
    def journal(self):
        return self.data_dir / JOURNAL

    def cli(self, *args):
        """The stdout of `deputy args... --data-dir <data_dir>`, which must exit 0."""
        cmd = [conftest._deputy_bin(), *args, "--data-dir", str(self.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
                              env=conftest.own_store_env())
        assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def tenant(self):
        """What `deputy policy list` and `deputy grants` print for the tenant now."""
        return {"policies": self.cli("policy", "list"), "grants": self.cli("grants")}

    def audit_command(self, args, json_report=True):
        return [conftest._deputy_bin(), "audit", "--manifest", str(self.manifest_path), *args,
                *(["--json"] if json_report else [])]

    def next_step(self):
        """Moves the authority's clock 30 s ahead: alice's next verification code is one never used."""
        self.clock.advance(30)

    def start_of_a_step(self):
        """Moves the authority's clock to 1-2 s after the start of a TOTP step no code was used in yet."""
        now = self.clock.now()
        self.clock.advance(math.ceil((now // conftest.TOTP_PERIOD + 1) * conftest.TOTP_PERIOD + 1 - now))


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """`deputy up --tls --test-controls` on its own port block and data directory, for this module only."""
    # deputy up's graceful stop may wait for its services' idle keep-alive connections; this instance's data is
    # thrown away, so it is not waited for long.
    with conftest.own_instance(tmp_path_factory, "deputy-audit", stop_timeout=3) as (manifest, manifest_path, data_dir,
                                                                                     clock, closing):
        instance = Instance(manifest, manifest_path, data_dir, clock)
        instance.baseline = instance.tenant()
        assert "Require MFA for Contoso SQL" in instance.baseline["policies"], instance.baseline["policies"]
        assert "Audited Middle Tier" in instance.baseline["grants"], instance.baseline["grants"]
        yield instance


# --- running audits --------------------------------------------------------------------------------

@dataclass
class Audit:
    cmd: list
    returncode: int
    stdout: str
    stderr: str
    report: dict | None

    def describe(self):
        return f"{' '.join(self.cmd)}\nexit status {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def results(self):
        """{rule id: "pass" | "fail" | "skip"} of the JSON report (each id once)."""
        assert self.report is not None, self.describe()
        ids = [rule["id"] for rule in self.report["rules"]]
        assert len(ids) == len(set(ids)), f"a rule is reported twice: {ids}"
        return {rule["id"]: rule["result"] for rule in self.report["rules"]}

    def failed(self):
        return {rule for rule, result in self.results().items() if result == "fail"}


def audit(instance, args, json_report=True, next_step=True):
    """Runs `deputy audit --manifest <this module's manifest> args...` to its end; with next_step, after moving the
    clock to alice's next TOTP step (so the audit never waits for a verification code)."""
    if next_step:
        instance.next_step()
    cmd = instance.audit_command(args, json_report)
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=AUDIT_TIMEOUT,
                          env=conftest.own_store_env())
    report = None
    if json_report and done.returncode in (0, 1):
        try:
            report = json.loads(done.stdout)
        except ValueError:
            pytest.fail(f"--json printed no JSON document:\n{done.stdout}\n{done.stderr}", pytrace=False)
    result = Audit(cmd, done.returncode, done.stdout, done.stderr, report)
    if next_step:
        assert "waiting" not in done.stderr, f"the audit waited although the clock was moved:\n{result.describe()}"
    return result


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tiers(instance, tmp_path):
    """tiers(flaw) -> the /expenses URL of a new `middle_tier.py --flaw <flaw>` for this module's instance, started
    with the authority's current clock offset (move the clock first); every tier is stopped after the test."""
    started = []

    def start(flaw):
        port = free_port()
        log_path = tmp_path / f"middle-tier-{flaw}.log"
        cmd = [sys.executable, str(TIER), "--manifest", str(instance.manifest_path), "--port", str(port),
               "--flaw", flaw, "--clock-offset", str(instance.clock.offset)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        with requests.Session() as http:
            http.trust_env = False
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{conftest._tail(log_path)}", pytrace=False)
                try:
                    if http.get(f"{base}/health", timeout=1).text == "ok":
                        return f"{base}/expenses"
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(cmd)}: no /health after 15 s:\n{conftest._tail(log_path)}", pytrace=False)
                time.sleep(0.1)

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def audit_tier(instance, tiers, flaw, json_report=True):
    """An audit of a new Python middle tier with `flaw`: the clock is moved first, so the tier knows its offset."""
    instance.next_step()
    url = tiers(flaw)
    result = audit(instance, ["--target", url], json_report=json_report, next_step=False)
    assert "waiting" not in result.stderr, result.describe()
    return result


def assert_tenant_is(instance, before, what):
    """The tenant prints as `before` (policy list and grants) and no journal is left."""
    after = instance.tenant()
    for kind in ("policies", "grants"):
        if after[kind] != before[kind]:
            rows = {when: [" ".join(line.split()) for line in text[kind].splitlines()] for when, text in
                    (("before", before), ("after", after))}  # the columns' widths may change with the rows
            added = [row for row in rows["after"] if row not in rows["before"]]
            removed = [row for row in rows["before"] if row not in rows["after"]]
            problem = (f"other rows (added: {added}, removed: {removed})" if added or removed
                       else "the same rows in another order")
            diff = "\n".join(difflib.unified_diff(before[kind].splitlines(), after[kind].splitlines(),
                                                  "before", "after", lineterm=""))
            pytest.fail(f"after {what}, `deputy {'policy list' if kind == 'policies' else 'grants'}` prints {problem}:"
                        f"\n{diff}", pytrace=False)
    assert not instance.journal.exists(), f"after {what}, {instance.journal} is left: {instance.journal.read_text()}"


def start_waiting_audit(instance, tmp_path):
    """Starts an audit of the Web API right after another one, in the same TOTP step: it adds its policy, then waits
    (~28 s) for alice's next verification code. Returns (the process, its stderr file) once stderr says it waits."""
    args = service_target(instance.manifest, "webApi")
    instance.start_of_a_step()  # 1-2 s into a step: the waiting audit below has ~28 s left to wait
    first = audit(instance, args, next_step=False)
    assert first.returncode == 0, first.describe()
    stderr_path = tmp_path / "waiting-audit.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(instance.audit_command(args), stdout=subprocess.DEVNULL, stderr=err, env=conftest.own_store_env(),
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while "waiting" not in stderr_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            pytest.fail(f"the audit never said it was waiting (exit status {proc.returncode}):\n"
                        f"{stderr_path.read_text(errors='replace')}", pytrace=False)
        time.sleep(0.05)
    return proc, stderr_path


# --- deputy up's own middle tiers --------------------------------------------------------------------

@pytest.mark.parametrize("service", ["webApi", "agent", "mcpServer"])
def test_deputy_audit_passes_every_rule_against_deputy_ups_own(instance, service):
    result = audit(instance, service_target(instance.manifest, service))
    assert result.returncode == 0, result.describe()
    expected = RULES + (MCP_RULES if service == "mcpServer" else [])
    results = result.results()
    assert sorted(results) == sorted(expected), f"rules reported: {sorted(results)}\n{result.describe()}"
    assert all(outcome == "pass" for outcome in results.values()), f"{results}\n{result.describe()}"
    assert result.report["target"] == service_target(instance.manifest, service)[1], result.report["target"]


# --- the Python middle tier ----------------------------------------------------------------------------

def test_the_correct_python_middle_tier_passes_all_ten_rules(instance, tiers):
    result = audit_tier(instance, tiers, "none")
    assert result.returncode == 0, result.describe()
    assert result.results() == {rule: "pass" for rule in RULES}, result.describe()


@pytest.mark.parametrize("flaw, breaks", [
    ("passthrough", {"obo-downstream", "no-passthrough"}),
    ("swallow-challenge", {"relays-claims-challenge", "relays-consent-required"}),
    ("no-audience-check", {"rejects-wrong-audience"}),
])
def test_a_flawed_python_middle_tier_fails_exactly_the_rules_it_breaks(instance, tiers, flaw, breaks):
    result = audit_tier(instance, tiers, flaw)
    assert result.returncode == 1, result.describe()
    results = result.results()
    assert sorted(results) == sorted(RULES), result.describe()
    assert result.failed() == breaks, f"failed: {sorted(result.failed())}, expected {sorted(breaks)}\n{result.describe()}"
    assert all(results[rule] == "pass" for rule in RULES if rule not in breaks), result.describe()


def test_the_table_report_names_every_rule_and_ends_saying_all_ten_passed_for_the_correct_tier(instance, tiers):
    result = audit_tier(instance, tiers, "none", json_report=False)
    assert result.returncode == 0, result.describe()
    lines = result.stdout.strip().splitlines()
    rows = {line.split()[0]: line.split()[1] for line in lines if len(line.split()) > 1 and line.startswith("  ")}
    assert rows == {rule: "pass" for rule in RULES}, result.stdout
    assert lines[-1] == "All 10 rules checked passed.", result.stdout


# --- the tenant afterwards -------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["webApi", "agent", "mcpServer",
                                    "tier:none", "tier:passthrough", "tier:swallow-challenge", "tier:no-audience-check"])
def test_an_audit_leaves_the_policies_and_grants_as_they_were_and_no_journal(instance, tiers, target):
    before = instance.tenant()
    if target.startswith("tier:"):
        result = audit_tier(instance, tiers, target.removeprefix("tier:"))
    else:
        result = audit(instance, service_target(instance.manifest, target))
    assert result.returncode in (0, 1) and result.report, result.describe()
    assert_tenant_is(instance, before, f"the audit of {target}")


def test_an_audit_interrupted_with_sigint_while_waiting_for_a_code_undoes_its_policy_and_exits_130(instance, tmp_path):
    proc, stderr_path = start_waiting_audit(instance, tmp_path)
    try:
        # It waits with its policy switched on, journaled.
        assert instance.journal.exists(), stderr_path.read_text()
        assert TEMPORARY_POLICY in instance.cli("policy", "list")
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = stderr_path.read_text(errors="replace")
    assert status == 130, f"exit status {status}:\n{stderr}"
    assert "interrupted; undid 1 change(s)" in stderr, stderr
    assert instance.cli("policy", "list") == instance.baseline["policies"]
    assert not instance.journal.exists(), instance.journal.read_text()


def test_an_audit_killed_with_sigkill_leaves_a_journal_that_the_next_audit_restores_before_it_passes(instance, tmp_path):
    proc, stderr_path = start_waiting_audit(instance, tmp_path)
    proc.kill()
    assert proc.wait(timeout=15) == -signal.SIGKILL
    # Nothing could undo the policy: the journal names it and the tenant still has it.
    assert instance.journal.exists(), stderr_path.read_text()
    journal = instance.journal.read_text()
    assert "addedPolicy" in journal, journal
    assert TEMPORARY_POLICY in instance.cli("policy", "list")

    result = audit(instance, service_target(instance.manifest, "webApi"))
    assert result.returncode == 0, result.describe()
    assert all(outcome == "pass" for outcome in result.results().values()), result.describe()
    assert instance.cli("policy", "list") == instance.baseline["policies"]
    assert not instance.journal.exists(), instance.journal.read_text()
