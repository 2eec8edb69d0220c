"""Microsoft Graph's Python SDK (msgraph-sdk, on kiota) managing deputy's tenant with only the base URL changed.

The SDK is set up as its documentation shows for a daemon: GraphServiceClient over a GraphRequestAdapter whose
authentication provider is kiota's AzureIdentityAuthenticationProvider with azure-identity's ClientSecretCredential
(the demo admin app, client credentials for https://graph.microsoft.com/.default). What differs from Entra: the
credential's authority (deputy's origin, instance discovery off), the adapter's base_url ({authority origin}/v1.0),
the provider's allowed_hosts (127.0.0.1) and the httpx client's trust (deputy's CA). Delegated calls (alice, who is
no administrator; bob, a Global Administrator) use MSAL tokens through kiota's BaseBearerTokenAuthenticationProvider.

This module changes the directory (users, policies, groups), so it runs its own `deputy up --tls --test-controls`
(conftest.own_instance), and every test removes what it created.
"""

import asyncio
import json
import ssl
import uuid
import warnings
from urllib.parse import unquote, urlsplit

import httpx
import msal
import pytest
import requests
from azure.identity import ClientSecretCredential

# The SDK's generated code warns of its own deprecated classes as they are defined; that is no concern here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
    from msgraph.generated.identity.conditional_access.policies.policies_request_builder import PoliciesRequestBuilder
    from msgraph.generated.models.conditional_access_applications import ConditionalAccessApplications
    from msgraph.generated.models.conditional_access_client_app import ConditionalAccessClientApp
    from msgraph.generated.models.conditional_access_condition_set import ConditionalAccessConditionSet
    from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
    from msgraph.generated.models.conditional_access_grant_controls import ConditionalAccessGrantControls
    from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
    from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState
    from msgraph.generated.models.conditional_access_users import ConditionalAccessUsers
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.password_profile import PasswordProfile
    from msgraph.generated.models.reference_create import ReferenceCreate
    from msgraph.generated.models.user import User
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph_core import GraphClientFactory
    from msgraph_core.tasks.page_iterator import PageIterator

import conftest

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
WEB_API_SCOPES = ["api://contoso-expenses-api/access_as_user"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the same, for modules the SDK loads lazily

DEMO_USERS = {"Alice Adams", "Bob Brown", "Eve Evans (Fabrikam)"}


def users_query(**kwargs):
    return RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**kwargs))


class FixedToken(AccessTokenProvider):
    """Hands kiota a token obtained elsewhere (MSAL), for the hosts allowed only, over https only."""

    def __init__(self, token, host):
        self.token = token
        self.validator = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri, additional_authentication_context={}):
        if not self.validator.is_url_host_valid(uri) or urlsplit(uri).scheme != "https":
            return ""
        return self.token

    def get_allowed_hosts_validator(self):
        return self.validator


class Tenant:
    """This module's deputy up, the SDK clients for it and the MSAL sign-ins the tests check the directory with."""

    def __init__(self, manifest, clock, closing):
        self.manifest = manifest
        self.clock = clock
        self.closing = closing
        self.ca = manifest["caCertificate"]
        self.origin = manifest["graphBaseUrl"].rstrip("/")
        self.host = urlsplit(self.origin).hostname
        self.port = urlsplit(manifest["services"]["authority"]).port
        admin = manifest["applications"]["admin"]
        self.credential = ClientSecretCredential(manifest["tenantId"], admin["appId"], admin["clientSecret"],
                                                 authority=self.origin, disable_instance_discovery=True,
                                                 connection_verify=self.ca)
        self.seen = []  # (method, url, status) of every Graph call the SDK made

    def user(self, key):
        return self.manifest["users"][key]

    def app_id(self, name):
        return self.manifest["applications"][name]["appId"]

    def admin_auth(self):
        return AzureIdentityAuthenticationProvider(self.credential, scopes=[GRAPH_SCOPE], allowed_hosts=[self.host])

    def bearer_auth(self, token):
        return BaseBearerTokenAuthenticationProvider(FixedToken(token, self.host))

    def run(self, scenario, auth=None):
        """Runs `await scenario(graph)` with a new GraphServiceClient (the admin app's by default) on a new loop."""
        async def main():
            async def record(response):
                self.seen.append((response.request.method, unquote(str(response.request.url)), response.status_code))

            http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=self.ca), trust_env=False,
                                     event_hooks={"response": [record]})
            try:
                adapter = GraphRequestAdapter(auth or self.admin_auth(),
                                              client=GraphClientFactory.create_with_default_middleware(client=http))
                adapter.base_url = self.origin + "/v1.0"
                return await scenario(GraphServiceClient(request_adapter=adapter))
            finally:
                await http.aclose()

        return asyncio.run(main())

    def last(self, method):
        """(url, status) of the SDK's last call with this method."""
        found = [(url, status) for m, url, status in self.seen if m == method]
        assert found, self.seen
        return found[-1]

    def http(self):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        s.mount("https://127.0.0.1/", conftest.PortFixAdapter(self.port))
        self.closing.append(s)
        return s

    def ropc(self, upn, password, scopes=WEB_API_SCOPES):
        """MSAL's result of a password sign-in on the public CLI app (a new app object, so no answer is cached)."""
        app = msal.PublicClientApplication(self.app_id("cli"), authority=self.manifest["authority"], instance_discovery=False,
                                           http_client=self.http())
        return app.acquire_token_by_username_password(upn, password, scopes=scopes)

    def app_token(self, name):
        registration = self.manifest["applications"][name]
        app = msal.ConfidentialClientApplication(registration["appId"], client_credential=registration["clientSecret"],
                                                 authority=self.manifest["authority"], instance_discovery=False,
                                                 http_client=self.http())
        result = app.acquire_token_for_client([GRAPH_SCOPE])
        assert "access_token" in result, result
        return result["access_token"]

    def delegated_token(self, key, *permissions):
        user = self.user(key)
        result = self.ropc(user["userPrincipalName"], user["password"],
                           scopes=[f"https://graph.microsoft.com/{p}" for p in permissions])
        assert "access_token" in result, result
        return result["access_token"]

    async def new_user(self, graph, label):
        """Creates a user through the SDK; returns (the created User, its password)."""
        suffix = uuid.uuid4().hex[:8]
        password = f"Graph!{suffix}-Pw1"
        body = User(display_name=f"Graph Test {label} {suffix}", user_principal_name=f"graph-{label}-{suffix}@contoso.com",
                    mail_nickname=f"graph-{label}-{suffix}", account_enabled=True,
                    password_profile=PasswordProfile(password=password, force_change_password_next_sign_in=False))
        return await graph.users.post(body), password


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with conftest.own_instance(tmp_path_factory, "deputy-graph") as (manifest, _, _, clock, closing):
        yield Tenant(manifest, clock, closing)


async def delete_quietly(request_builder):
    """Cleanup: deletes what a failed test may have left; a 404 (already gone) is fine."""
    try:
        await request_builder.delete()
    except ODataError as e:
        assert e.response_status_code == 404, e


def test_the_sdk_lists_users_with_filter_select_top_and_follows_next_links(tenant):
    alice = tenant.user("alice")

    async def scenario(graph):
        # $filter with startswith, and $select: only the selected properties come back.
        page = await graph.users.get(users_query(filter="startswith(displayName,'A')",
                                                 select=["id", "displayName", "userPrincipalName"]))
        url, status = tenant.last("GET")
        assert status == 200 and "$filter=startswith(displayName,'A')" in url and "$select=id,displayName,userPrincipalName" in url, url
        assert [(u.id, u.display_name, u.user_principal_name) for u in page.value] == [
            (alice["objectId"], "Alice Adams", alice["userPrincipalName"])]
        assert page.value[0].mail is None and page.value[0].account_enabled is None, page.value[0]
        assert page.odata_next_link is None
        # Without $select the same user has her other properties.
        full_alice = await graph.users.by_user_id(alice["objectId"]).get()
        assert full_alice.mail == alice["userPrincipalName"] and full_alice.account_enabled is True, full_alice

        everyone = await graph.users.get(users_query(select=["id", "displayName"], orderby=["displayName"]))
        names = [u.display_name for u in everyone.value]
        assert DEMO_USERS <= set(names) and names == sorted(names), names
        backwards = await graph.users.get(users_query(select=["id", "displayName"], orderby=["displayName desc"]))
        assert [u.display_name for u in backwards.value] == names[::-1]

        # $top=1: one user a page, and @odata.nextLink (with a $skiptoken, on deputy's origin) to the next one.
        first = await graph.users.get(users_query(select=["id", "displayName"], orderby=["displayName"], top=1))
        pages = [first]
        while pages[-1].odata_next_link:
            link = pages[-1].odata_next_link
            assert link.startswith(tenant.origin + "/v1.0/users?") and "$skiptoken=" in unquote(link), link
            assert len(pages) <= len(names), "the next links do not end"
            pages.append(await graph.users.with_url(link).get())
        assert [len(p.value) for p in pages] == [1] * len(names), [len(p.value) for p in pages]
        assert [p.value[0].display_name for p in pages] == names
        # The SDK's PageIterator walks the same links.
        walked = []
        await PageIterator(first, graph.request_adapter).iterate(lambda u: walked.append(u.display_name) or True)
        assert walked == names

        # $top is 1 to 999.
        assert len((await graph.users.get(users_query(top=999))).value) == len(names)
        with pytest.raises(ODataError) as raised:
            await graph.users.get(users_query(top=1000))
        assert raised.value.response_status_code == 400, raised.value
        assert raised.value.error.code == "Request_UnsupportedQuery", raised.value.error

    tenant.run(scenario)


def test_the_sdk_filters_with_odata_operators_and_a_bad_filter_is_a_400(tenant):
    alice, bob, eve = tenant.user("alice"), tenant.user("bob"), tenant.user("eve")

    async def names(graph, expression):
        page = await graph.users.get(users_query(filter=expression, select=["id", "displayName"], orderby=["displayName"]))
        return [u.display_name for u in page.value]

    async def scenario(graph):
        assert await names(graph, "userType eq 'Guest'") == ["Eve Evans (Fabrikam)"]
        assert await names(graph, "not(userType eq 'Guest')") == ["Alice Adams", "Bob Brown"]
        assert await names(graph, "displayName ne 'Bob Brown' and accountEnabled eq true") == ["Alice Adams", "Eve Evans (Fabrikam)"]
        assert await names(graph, "startswith(userPrincipalName,'bob') or endswith(displayName,'(Fabrikam)')") == [
            "Bob Brown", "Eve Evans (Fabrikam)"]
        assert await names(graph, f"id in ('{alice['objectId']}','{eve['objectId']}')") == ["Alice Adams", "Eve Evans (Fabrikam)"]
        assert await names(graph, "(displayName ge 'B' and displayName lt 'C') or userPrincipalName eq 'alice@contoso.com'") == [
            "Alice Adams", "Bob Brown"]
        assert await names(graph, f"userPrincipalName eq '{bob['userPrincipalName']}'") == ["Bob Brown"]

        # Another collection: the Web API's application registration by appId.
        apps = await graph.applications.get(RequestConfiguration(
            query_parameters=ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
                filter=f"appId eq '{tenant.app_id('webApi')}'", select=["id", "appId", "displayName"])))
        assert [(a.app_id, a.display_name) for a in apps.value] == [
            (tenant.app_id("webApi"), tenant.manifest["applications"]["webApi"]["displayName"])]

        for bad in ("displayName eq", "displayName eq 'Alice", "frobnicate(displayName,'A')", "displayName eq 'A' and"):
            with pytest.raises(ODataError) as raised:
                await graph.users.get(users_query(filter=bad))
            assert raised.value.response_status_code == 400, (bad, raised.value)
            assert raised.value.error.code in ("Request_UnsupportedQuery", "Request_BadRequest"), (bad, raised.value.error)
            assert raised.value.error.message, (bad, raised.value.error)

    tenant.run(scenario)

    # Graph's error body, as clients without the SDK read it.
    token = tenant.app_token("admin")
    r = tenant.http().get(tenant.origin + "/v1.0/users", params={"$filter": "displayName eq"},
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "Request_UnsupportedQuery" and error["message"], error
    assert {"date", "request-id"} <= error["innerError"].keys(), error


def test_the_sdk_creates_reads_updates_disables_and_deletes_a_user(tenant):
    async def scenario(graph):
        # A user needs a password (passwordProfile): 400 without one.
        with pytest.raises(ODataError) as raised:
            await graph.users.post(User(display_name="No Password", user_principal_name="graph-nopw@contoso.com",
                                        mail_nickname="graph-nopw", account_enabled=True))
        assert raised.value.response_status_code == 400 and raised.value.error.code == "Request_BadRequest", raised.value.error

        created, password = await tenant.new_user(graph, "life")
        assert tenant.last("POST")[1] == 201
        try:
            assert created.id and created.user_principal_name.startswith("graph-life-"), created
            assert created.account_enabled is True, created

            # Read by userPrincipalName, as Graph allows.
            read = await graph.users.by_user_id(created.user_principal_name).get()
            assert (read.id, read.display_name) == (created.id, created.display_name), read
            signed_in = tenant.ropc(created.user_principal_name, password)
            assert "access_token" in signed_in, signed_in

            await graph.users.by_user_id(created.id).patch(User(job_title="Expense Auditor"))
            assert tenant.last("PATCH")[1] == 204
            assert (await graph.users.by_user_id(created.id).get()).job_title == "Expense Auditor"

            # Disabled: the next sign-in is refused (AADSTS50057).
            await graph.users.by_user_id(created.id).patch(User(account_enabled=False))
            assert tenant.last("PATCH")[1] == 204
            assert (await graph.users.by_user_id(created.id).get()).account_enabled is False
            refused = tenant.ropc(created.user_principal_name, password)
            assert "access_token" not in refused, refused
            assert refused.get("error") == "invalid_grant" and refused.get("error_codes") == [50057], refused
            assert refused["error_description"].startswith("AADSTS50057:"), refused

            await graph.users.by_user_id(created.id).delete()
            assert tenant.last("DELETE")[1] == 204
            for attempt in (graph.users.by_user_id(created.id).get, graph.users.by_user_id(created.id).delete):
                with pytest.raises(ODataError) as raised:
                    await attempt()
                assert raised.value.response_status_code == 404, raised.value
                assert raised.value.error.code == "Request_ResourceNotFound", raised.value.error
            gone = tenant.ropc(created.user_principal_name, password)
            assert gone.get("error_codes") == [50034], gone
        finally:
            await delete_quietly(graph.users.by_user_id(created.id))

    tenant.run(scenario)


def test_a_conditional_access_policy_from_the_sdk_blocks_its_user_until_it_is_disabled(tenant):
    bob = tenant.user("bob")

    async def scenario(graph):
        created, password = await tenant.new_user(graph, "ca")
        policy = None
        try:
            assert "access_token" in tenant.ropc(created.user_principal_name, password)
            policy = await graph.identity.conditional_access.policies.post(ConditionalAccessPolicy(
                display_name=f"Block {created.display_name}", state=ConditionalAccessPolicyState.Enabled,
                conditions=ConditionalAccessConditionSet(
                    users=ConditionalAccessUsers(include_users=[created.id]),
                    applications=ConditionalAccessApplications(include_applications=["All"]),
                    client_app_types=[ConditionalAccessClientApp.All]),
                grant_controls=ConditionalAccessGrantControls(operator="OR",
                                                              built_in_controls=[ConditionalAccessGrantControl.Block])))
            assert tenant.last("POST")[1] == 201
            assert policy.id and policy.state == ConditionalAccessPolicyState.Enabled, policy
            assert policy.conditions.users.include_users == [created.id], policy.conditions.users
            listed = await graph.identity.conditional_access.policies.get(RequestConfiguration(
                query_parameters=PoliciesRequestBuilder.PoliciesRequestBuilderGetQueryParameters(
                    filter=f"displayName eq '{policy.display_name}'", select=["id", "state"])))
            assert [(p.id, p.state) for p in listed.value] == [(policy.id, ConditionalAccessPolicyState.Enabled)]

            # The user's next token request is blocked (AADSTS53003, naming the policy); bob's is not.
            blocked = tenant.ropc(created.user_principal_name, password)
            assert "access_token" not in blocked, blocked
            assert blocked.get("error") == "invalid_grant" and blocked.get("error_codes") == [53003], blocked
            assert json.loads(blocked["claims"]) == {"access_token": {"capolids": {"essential": True, "values": [policy.id]}}}
            assert "access_token" in tenant.ropc(bob["userPrincipalName"], bob["password"])

            # Disabled, the policy no longer applies.
            one = graph.identity.conditional_access.policies.by_conditional_access_policy_id(policy.id)
            await one.patch(ConditionalAccessPolicy(state=ConditionalAccessPolicyState.Disabled))
            assert tenant.last("PATCH")[1] == 204
            assert (await one.get()).state == ConditionalAccessPolicyState.Disabled
            assert "access_token" in tenant.ropc(created.user_principal_name, password)

            await one.delete()
            assert tenant.last("DELETE")[1] == 204
            with pytest.raises(ODataError) as raised:
                await one.get()
            assert raised.value.response_status_code == 404, raised.value
            policy = None
        finally:
            if policy is not None:
                await delete_quietly(graph.identity.conditional_access.policies.by_conditional_access_policy_id(policy.id))
            await delete_quietly(graph.users.by_user_id(created.id))

    tenant.run(scenario)


def test_the_sdk_adds_and_removes_group_members_by_ref(tenant):
    async def scenario(graph):
        created, _ = await tenant.new_user(graph, "member")
        group = None
        try:
            suffix = uuid.uuid4().hex[:8]
            # Graph's required properties for a security group. (Deputy keeps displayName and members only: it answers
            # without mailEnabled, mailNickname, securityEnabled and description.)
            group = await graph.groups.post(Group(display_name=f"Graph Test Group {suffix}", mail_enabled=False,
                                                  mail_nickname=f"graph-group-{suffix}", security_enabled=True))
            assert tenant.last("POST")[1] == 201 and group.id, group
            members = graph.groups.by_group_id(group.id).members
            assert (await members.get()).value == []

            reference = ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{created.id}")
            await members.ref.post(reference)
            url, status = tenant.last("POST")
            assert status == 204 and url.endswith(f"/v1.0/groups/{group.id}/members/$ref"), (url, status)
            listed = (await members.get()).value
            assert [(type(m).__name__, m.id) for m in listed] == [("User", created.id)], listed
            # Adding the same member twice is a 400, as in Graph.
            with pytest.raises(ODataError) as raised:
                await members.ref.post(reference)
            assert raised.value.response_status_code == 400, raised.value

            await members.by_directory_object_id(created.id).ref.delete()
            url, status = tenant.last("DELETE")
            assert status == 204 and url.endswith(f"/v1.0/groups/{group.id}/members/{created.id}/$ref"), (url, status)
            assert (await members.get()).value == []
            with pytest.raises(ODataError) as raised:
                await members.by_directory_object_id(created.id).ref.delete()
            assert raised.value.response_status_code == 404, raised.value
        finally:
            if group is not None:
                await delete_quietly(graph.groups.by_group_id(group.id))
            await delete_quietly(graph.users.by_user_id(created.id))

    tenant.run(scenario)


def test_graph_refuses_callers_without_the_permission_and_an_administrator_revokes_sessions(tenant):
    alice = tenant.user("alice")

    async def expect(graph_call, status, code):
        with pytest.raises(ODataError) as raised:
            await graph_call()
        assert raised.value.response_status_code == status, raised.value
        assert raised.value.error.code == code, raised.value.error

    # An app-only Graph token of an app that holds no Graph permission (the nightly reports daemon): 403.
    async def as_reports(graph):
        await expect(graph.users.get, 403, "Authorization_RequestDenied")
        await expect(graph.users.by_user_id(alice["objectId"]).revoke_sign_in_sessions.post, 403, "Authorization_RequestDenied")
        await expect(graph.identity.conditional_access.policies.get, 403, "Authorization_RequestDenied")

    tenant.run(as_reports, auth=tenant.bearer_auth(tenant.app_token("reports")))

    # alice's delegated token carries User.ReadWrite.All, but she holds no administrator role: 403.
    async def as_alice(graph):
        await expect(graph.users.get, 403, "Authorization_RequestDenied")
        await expect(lambda: graph.users.by_user_id(alice["objectId"]).patch(User(job_title="Self-promoted")), 403,
                     "Authorization_RequestDenied")

    tenant.run(as_alice, auth=tenant.bearer_auth(tenant.delegated_token("alice", "User.ReadWrite.All")))

    # No token at all: 401 (kiota sends none when its provider gives none).
    async def anonymous(graph):
        await expect(graph.users.get, 401, "InvalidAuthenticationToken")

    tenant.run(anonymous, auth=tenant.bearer_auth(""))

    # bob, a Global Administrator, with the same delegated permissions: reads users and revokes a user's sessions.
    async def as_bob(graph):
        users = await graph.users.get(users_query(select=["id", "displayName"]))
        assert DEMO_USERS <= {u.display_name for u in users.value}

    tenant.run(as_bob, auth=tenant.bearer_auth(tenant.delegated_token("bob", "User.ReadWrite.All")))

    async def revoke_as_bob(graph, user_id):
        result = await graph.users.by_user_id(user_id).revoke_sign_in_sessions.post()
        assert result.value is True, result

    async def with_a_user(graph):
        return await tenant.new_user(graph, "revoked")

    created, password = tenant.run(with_a_user)
    try:
        signed_in = tenant.ropc(created.user_principal_name, password)
        assert "refresh_token" in signed_in, signed_in
        # User.ReadWrite.All allows revokeSignInSessions (Graph lists it as a higher-privileged permission for it);
        # the least-privileged one, User.RevokeSessions.All, is test_bob_revokes_sessions_with_user_revoke_sessions_all.
        bob_token = tenant.delegated_token("bob", "User.ReadWrite.All")
        # The revocation must fall in a later second than the sign-in (sessions are compared in whole seconds).
        tenant.clock.advance(2)
        tenant.run(lambda graph: revoke_as_bob(graph, created.id), auth=tenant.bearer_auth(bob_token))
        assert tenant.last("POST") == (f"{tenant.origin}/v1.0/users/{created.id}/revokeSignInSessions", 200)
        app = msal.PublicClientApplication(tenant.app_id("cli"), authority=tenant.manifest["authority"],
                                           instance_discovery=False, http_client=tenant.http())
        refused = app.acquire_token_by_refresh_token(signed_in["refresh_token"], WEB_API_SCOPES)
        assert refused.get("error") == "interaction_required" and 50173 in refused.get("error_codes", []), refused
    finally:
        tenant.run(lambda graph: delete_quietly(graph.users.by_user_id(created.id)))


def test_the_deputy_cli_manages_policies_and_users_through_graph(tenant, tmp_path):
    """`deputy policy … --graph` and `deputy user …` call the running authority's Graph API with the manifest's admin app."""
    import os
    import subprocess

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(tenant.manifest))

    def cli(*args, env=None):
        cmd = [conftest._deputy_bin(), *args, "--manifest", str(manifest)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                              env={**os.environ, **(env or {})})
        assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    http = tenant.http()
    headers = {"Authorization": f"Bearer {tenant.app_token('admin')}"}
    policies = f"{tenant.origin}/v1.0/identity/conditionalAccess/policies"
    policy_id = str(uuid.uuid4())
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({
        "id": policy_id, "displayName": "CLI test policy", "state": "enabledForReportingButNotEnforced",
        "conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}))
    assert f"applied CLI test policy ({policy_id}, enabledForReportingButNotEnforced)" in cli("policy", "apply", "-f", str(policy_file), "--graph")
    assert policy_id in cli("policy", "list", "--graph")
    cli("policy", "enable", policy_id, "--graph")
    assert http.get(f"{policies}/{policy_id}", headers=headers).json()["state"] == "enabled"
    cli("policy", "delete", policy_id, "--graph")
    assert http.get(f"{policies}/{policy_id}", headers=headers).status_code == 404

    upn = f"cli-{uuid.uuid4().hex[:8]}@contoso.com"
    created = cli("user", "create", "--upn", upn, "--name", "CLI Person", env={"DEPUTY_USER_PASSWORD": "Cli!Person-Pw1"})
    user_id = created.strip().rsplit(" ", 1)[-1]
    assert upn in cli("user", "list", "--filter", f"userPrincipalName eq '{upn}'")
    assert "access_token" in tenant.ropc(upn, "Cli!Person-Pw1")
    cli("user", "disable", upn)
    assert http.get(f"{tenant.origin}/v1.0/users/{user_id}", headers=headers).json()["accountEnabled"] is False
    assert tenant.ropc(upn, "Cli!Person-Pw1").get("error_codes") == [50057]
    cli("user", "delete", upn)
    assert http.get(f"{tenant.origin}/v1.0/users/{user_id}", headers=headers).status_code == 404
