public import DeputyCore
import DeputyTokenValidation
import Foundation
public import Logging
import Metrics
import Tracing

/// The token-service engine: directory, grants, client authentication, keys, sign-in log.
/// Framework-neutral: the Hummingbird routes in DeputyAuthorityServer call it.
public final class Authority: Sendable {
    public let configuration: AuthorityConfiguration
    public let store: any AuthorityStore
    public let keys: SigningKeyManager
    public let time: any TimeSource
    public let passwords: PasswordVault
    public let evaluator: any ConditionalAccessEvaluating
    public let logger: Logger
    let grants: GrantHandlerRegistry
    /// Remote key sets of federated-credential issuers, one per JWKS URL.
    let remoteKeySets = RemoteKeySetRegistry()
    /// Agent identities' credentials (T1, T2) already verified, until they expire (bounded).
    let verifiedAgentCredentials = LRUCache<String, ValidatedToken>(capacity: 10_000)
    /// Client ID Metadata Documents fetched and registered, until their cache lifetime ends.
    let clientMetadataDocuments = LRUCache<String, Bool>(capacity: 1_024)
    private let directoryCache = LockedBox<(generation: Int, byName: [String: DirectoryIndex])>((-1, [:]))

    /// Creates an authority over a store that is already seeded (see ``Authority/open(configuration:store:tenantFile:reseed:time:logger:)``).
    public init(
        configuration: AuthorityConfiguration, store: any AuthorityStore, time: any TimeSource = SystemTimeSource(),
        evaluator: (any ConditionalAccessEvaluating)? = nil, logger: Logger = Logger(label: "deputy.authority")
    ) {
        self.configuration = configuration
        self.store = store
        self.time = time
        self.keys = SigningKeyManager(store: store, time: time)
        self.passwords = PasswordVault(store: store, cost: configuration.passwordHashCost)
        self.evaluator = evaluator ?? ConditionalAccessEngine(time: time)
        self.logger = logger
        self.grants = GrantHandlerRegistry([
            AuthorizationCodeGrantHandler(), RefreshTokenGrantHandler(), ClientCredentialsGrantHandler(),
            PasswordGrantHandler(), DeviceCodeGrantHandler(), OnBehalfOfGrantHandler(), TokenExchangeGrantHandler(),
            UserFederatedCredentialGrantHandler(),
        ])
    }

    /// Stored Conditional Access policies or named locations that cannot be read: the authority
    /// does not start rather than enforce a tenant with policies missing.
    public struct UnreadablePoliciesError: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String {
            "The store holds Conditional Access policies or named locations that cannot be read; Deputy does not start without them:\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n")
                + "\nFix them with `deputy policy apply -f FILE` or remove them with `deputy policy delete ID` (both take --data-dir)."
        }
    }

    /// What happened when the store met the tenant file at start.
    public enum SeedResult: Sendable, Equatable {
        case seeded, reseeded, unchanged
        /// The file differs from what seeded the store; the store stays the truth.
        case fileDiffersFromStore
    }

    /// Opens an authority: seeds the store from the tenant file the first time (or with
    /// `reseed`), makes sure a signing key exists, and starts hashing demo passwords in the
    /// background.
    public static func open(
        configuration: AuthorityConfiguration, store: any AuthorityStore, tenantFile: LoadedTenantFile?,
        reseed: Bool = false, time: any TimeSource = SystemTimeSource(),
        logger: Logger = Logger(label: "deputy.authority")
    ) async throws -> (Authority, SeedResult) {
        let authority = Authority(configuration: configuration, store: store, time: time, logger: logger)
        var result = SeedResult.unchanged
        if let file = tenantFile {
            let existing = try await store.seedFingerprint()
            if existing == nil || reseed {
                try await store.replaceDirectories(file.tenants, fingerprint: file.fingerprint)
                authority.passwords.hashInBackground(file.plainPasswords)
                result = existing == nil ? .seeded : .reseeded
            } else if existing != file.fingerprint {
                result = .fileDiffersFromStore
            }
            if result == .unchanged || result == .fileDiffersFromStore {
                // A previous run may have stopped before every demo password was hashed: finish the job.
                let stored = try await store.directories()
                let missing = file.plainPasswords.filter { key, _ in
                    stored.first { $0.tenant.id == key.tenantID }?.users.first { $0.id == key.userID }.map { $0.passwordHash == nil }
                        ?? false
                }
                authority.passwords.hashInBackground(missing)
            }
        }
        try await authority.keys.ensureKey()
        // A stored policy that no longer reads would otherwise be skipped: refuse to start.
        let problems = try await authority.tenants().flatMap { t in
            t.policyProblems.map { "tenant \(t.tenant.displayName): \($0.description)" }
        }
        if !problems.isEmpty { throw UnreadablePoliciesError(problems: problems) }
        return (authority, result)
    }

    // MARK: - Directory

    /// The tenant named by a path segment (tenant id or verified domain), as of the store's
    /// current generation.
    public func tenant(_ name: String) async throws -> DirectoryIndex? {
        try await tenantsByName()[name.lowercased()]
    }

    /// The tenant for a request: by id or domain, or — for Entra's `common` and `organizations`
    /// — the one tenant where `clientID` is registered (Deputy's applications are single-tenant).
    public func tenant(_ name: String, clientID: String?) async throws -> DirectoryIndex? {
        if let t = try await tenant(name) { return t }
        guard ["common", "organizations"].contains(name.lowercased()), let clientID else { return nil }
        let owners = try await tenants().filter { $0.client(appID: clientID) != nil }
        return owners.count == 1 ? owners[0] : nil
    }

    /// Every tenant, keyed by lower-cased id and domains.
    func tenantsByName() async throws -> [String: DirectoryIndex] {
        let generation = try await store.generation()
        if let cached = directoryCache.withLock({ $0.generation == generation ? $0.byName : nil }) { return cached }
        var byName: [String: DirectoryIndex] = [:]
        for d in try await store.directories() {
            let index = DirectoryIndex(d)
            for problem in index.policyProblems {
                logger.error(
                    "tenant \(d.tenant.displayName): sign-ins are blocked until this is fixed: \(problem.description) (deputy policy apply)"
                )
            }
            byName[d.tenant.id.lowercased()] = index
            for domain in d.tenant.verifiedDomains { byName[domain.lowercased()] = index }
        }
        directoryCache.withLock { $0 = (generation, byName) }
        return byName
    }

    /// All tenants (one entry each).
    public func tenants() async throws -> [DirectoryIndex] {
        var seen = Set<String>()
        return try await tenantsByName().values.filter { seen.insert($0.tenantID).inserted }.sorted { $0.tenantID < $1.tenantID }
    }

    /// Checks a password as every sign-in does (the sign-in page, ROPC): smart lockout first
    /// (AADSTS50053 while locked), then bcrypt — against a dummy hash when the account does not
    /// exist, so both take as long.
    /// - Returns: whether the password is the user's.
    func checkPassword(_ password: String, login: String, user: User?, tenant: DirectoryIndex, ipAddress: String?) async throws -> Bool {
        let lockout = SmartLockout(settings: configuration.smartLockout, counter: store)
        let now = time.now()
        let keys = try await lockout.begin(tenantID: tenant.tenantID, login: login, ipAddress: ipAddress, now: now)
        let matched: Bool
        if let user {
            matched = await passwords.verify(password, user: user, tenantID: tenant.tenantID)
        } else {
            await passwords.verifyNothing(password)
            matched = false
        }
        try await lockout.finish(keys, passwordMatched: matched, now: time.now())
        return matched
    }

    /// The signing keys for the store's current generation.
    public func currentKeys() async throws -> SigningKeyManager.Snapshot {
        try await keys.snapshot(generation: try await store.generation())
    }

    /// The tenant's lifetimes applied to the configuration.
    func configuration(for tenant: DirectoryIndex) -> AuthorityConfiguration { configuration.applying(tenant.tenant.tokenLifetimes) }

    // MARK: - Token endpoint

    /// The token endpoint's steps (DESIGN.md, "The authority, inside"): resolve the tenant,
    /// authenticate the client, dispatch to the one grant handler, issue, record the sign-in.
    public func token(_ request: TokenRequest) async -> Result<TokenResponse, OAuthError> {
        let grantType = request.form["grant_type"] ?? ""
        let result = await withSpan("token " + (grants.handler(for: grantType) != nil ? grantType : "request")) { span in
            let result = await issue(request)
            if case .failure(let e) = result { span.attributes["deputy.error"] = e.aadsts.map { "AADSTS\($0)" } ?? e.error.rawValue }
            return result
        }
        // `deputy_token_requests_total{grant_type, result}`: grants the authority knows, AADSTS codes.
        let outcome: String
        switch result {
        case .success: outcome = "success"
        case .failure(let e): outcome = e.aadsts.map { "AADSTS\($0)" } ?? e.error.rawValue
        }
        Counter(
            label: "deputy_token_requests_total",
            dimensions: [("grant_type", grants.handler(for: grantType) != nil ? grantType : "other"), ("result", outcome)]
        ).increment()
        return result
    }

    func issue(_ request: TokenRequest) async -> Result<TokenResponse, OAuthError> {
        let now = time.now()
        let grantType = request.form["grant_type"] ?? ""
        let tenant: DirectoryIndex
        do {
            guard let found = try await self.tenant(request.tenantSegment, clientID: ClientAuthenticator.clientIDHint(request)) else {
                return .failure(.tenantNotFound(request.tenantSegment))
            }
            tenant = found
        } catch {
            return .failure(normalize(error, draft: nil))
        }
        let draft = SignInDraft(
            tenantID: tenant.tenantID, isInteractive: false, protocol: grantType.isEmpty ? "token" : grantType,
            correlationID: request.correlationID, ipAddress: request.ipAddress, now: now)
        let result: Result<TokenResponse, OAuthError>
        do {
            guard !grantType.isEmpty else { throw OAuthError.missingParameter("grant_type") }
            guard let handler = grants.handler(for: grantType) else { throw OAuthError.unsupportedGrantType(grantType) }
            try request.form.rejectDuplicates(except: handler.repeatableParameters)
            let client = try await ClientAuthenticator(authority: self).authenticate(request, tenant: tenant, draft: draft)
            draft.client(client.application, credential: client.credential)
            try AgentGrants.check(grantType, client: client)
            let context = GrantContext(
                authority: self, tenant: tenant, client: client, draft: draft, configuration: configuration(for: tenant),
                devicePlatform: request.devicePlatform)
            result = .success(try await handler.handle(request, context: context))
        } catch {
            let oauth = normalize(error, draft: draft)
            draft.fail(oauth)
            result = .failure(oauth)
        }
        // A success is reported only once its sign-in record (and what the handler stored) is committed.
        do {
            try await store.appendSignIn(draft.record)
        } catch {
            logger.error("could not record sign-in", metadata: ["error": "\(error)"])
            if case .success = result { return .failure(.serverError(logDetail: "sign-in log write failed: \(error)")) }
        }
        return result
    }

    /// Any error that is not an `OAuthError` is logged with detail and answered as a generic
    /// server error (never exception text).
    public func normalize(_ error: any Error, draft: SignInDraft?) -> OAuthError {
        if let e = error as? OAuthError {
            if let detail = e.logDetail { logger.debug("request failed", metadata: ["detail": "\(detail)"]) }
            return e
        }
        logger.error("internal error", metadata: ["error": "\(error)", "correlation_id": "\(draft?.record.correlationId ?? "")"])
        return .serverError(logDetail: "\(error)")
    }

    // MARK: - Device authorization (RFC 8628 §3.1–3.2)

    /// Starts a device authorization for a public client.
    public func deviceAuthorization(tenantSegment: String, form: FormParameters) async -> Result<DeviceCodeResponse, OAuthError> {
        do {
            guard let tenant = try await tenant(tenantSegment, clientID: form["client_id"]) else {
                throw OAuthError.tenantNotFound(tenantSegment)
            }
            try form.rejectDuplicates()
            let clientID = try form.require("client_id")
            guard let app = tenant.application(appID: clientID) else { throw OAuthError.unknownClient(clientID, tenant: tenantSegment) }
            guard app.isFallbackPublicClient ?? false else { throw OAuthError.publicClientFlowsDisabled(appID: app.appId) }
            let scopes = Scopes.parse(try form.require("scope"))
            let resolved = try ResolvedScopes.resolve(scopes, tenant: tenant, tenantName: tenantSegment)
            guard resolved.resource != nil else { throw OAuthError.resourceNotFound(RequestedScope.microsoftGraph, tenant: tenantSegment) }
            if let c = form["claims"] { _ = try ClaimsRequest(parsing: c) }
            let config = configuration(for: tenant)
            let now = time.now()
            let deviceCode = "DAQABIQEAAA" + TokenMinter.randomID(bytes: 32)
            var userCode = DeviceCodes.userCode()
            var record = DeviceCodeRecord(
                deviceCodeHash: TokenIssuer.hash(deviceCode), userCode: userCode, tenantID: tenant.tenantID,
                clientID: app.appId, scopes: scopes, claims: form["claims"], createdAt: now,
                expiresAt: now + config.deviceCodeLifetime, interval: config.deviceCodeInterval)
            var attempts = 0
            while true {
                do {
                    try await store.saveDeviceCode(record)
                    break
                } catch StorageError.conflict where attempts < 5 {
                    attempts += 1
                    userCode = DeviceCodes.userCode()
                    record.userCode = userCode
                }
            }
            let uri = config.deviceVerificationURI
            return .success(
                DeviceCodeResponse(
                    deviceCode: deviceCode, userCode: userCode, verificationURI: uri, expiresIn: Int(config.deviceCodeLifetime),
                    interval: config.deviceCodeInterval,
                    message: "To sign in, use a web browser to open the page \(uri) and enter the code \(userCode) to authenticate."))
        } catch {
            return .failure(normalize(error, draft: nil))
        }
    }
}

/// The grants Agent ID's objects may use (Microsoft Learn, "Microsoft Entra Agent ID" protocols):
/// a blueprint gets tokens for its agents (client credentials), for itself, by OBO and with
/// refresh tokens; an agent identity uses client credentials, OBO, refresh tokens and user_fic.
enum AgentGrants {
    static let jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    static let forAgents: Set<String> = ["client_credentials", jwtBearer, "refresh_token", "user_fic"]
    static let forBlueprints: Set<String> = ["client_credentials", jwtBearer, "refresh_token"]

    static func check(_ grantType: String, client: AuthenticatedClient) throws(OAuthError) {
        if client.agent != nil, !forAgents.contains(grantType) { throw .grantNotAllowedForAgent(grantType, kind: "an agent identity") }
        if client.agent == nil, client.application.isAgentIdentityBlueprint, !forBlueprints.contains(grantType) {
            throw .grantNotAllowedForAgent(grantType, kind: "an agent identity blueprint")
        }
    }
}

enum DeviceCodes {
    /// Nine characters from an alphabet without look-alikes, as Entra's codes look.
    static func userCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<9).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }
}
