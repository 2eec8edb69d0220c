// The README's library examples, verbatim (imports gathered at the top): compiled with the
// tests so the README cannot drift from the API. They are not run (they need a real tenant).
import DeputyHummingbird
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird

func validateExample() async throws {
    let authorizationHeader: String? = "Bearer <access token>"
    var configuration = ResourceConfiguration(
        authority: "https://login.microsoftonline.com/<tenant-id>/v2.0",
        audiences: ["<api-app-id>", "api://contoso-expenses-api"])
    configuration.requiredScopes = ["access_as_user"]
    configuration.allowedTenants = ["<tenant-id>"]
    let validator = try ResourceValidator(configuration)  // create once and share: it caches keys and tokens

    do {
        let principal = try await validator.validate(authorizationHeader: authorizationHeader)
        print("caller:", principal.objectID ?? "-", principal.scopes)
    } catch {
        // `validate` throws only ResourceValidationError (typed throws):
        // 401, 403 or 503, and the WWW-Authenticate value to answer with
        print(error.status, error.challenge() ?? "")
    }
}

func onBehalfOfExample() async throws {
    let userToken = "<the access token the caller sent to this API>"
    let client = ConfidentialClient(
        authority: "https://login.microsoftonline.com/<tenant-id>",
        clientID: "<api-app-id>",
        credential: .secret("<client-secret>"))  // or .certificate(…) or .assertion { … }

    // The user's token for this API goes in; a token for Azure SQL comes out, cached per incoming token.
    let sql = try await client.acquireTokenOnBehalfOf(
        assertion: userToken,
        scopes: ["https://database.windows.net/.default"])
    print(sql.scopes, sql.expiresOn)
}

func hummingbirdExample() async throws {
    let validator = try ResourceValidator(
        ResourceConfiguration(
            authority: "https://login.microsoftonline.com/<tenant-id>/v2.0",
            audiences: ["<api-app-id>", "api://contoso-expenses-api"]))
    let downstream = ConfidentialClient(
        authority: "https://login.microsoftonline.com/<tenant-id>",
        clientID: "<api-app-id>",
        credential: .secret("<client-secret>"))
    let metadata = ProtectedResourceMetadata(
        resource: "https://expenses.contoso.example/api",
        authorizationServers: ["https://login.microsoftonline.com/<tenant-id>/v2.0"],
        scopesSupported: ["api://contoso-expenses-api/access_as_user"])

    let router = Router(context: BearerRequestContext.self)
    router.addProtectedResourceMetadata(metadata)  // RFC 9728: /.well-known/oauth-protected-resource/api
    router.group("api")
        .add(middleware: BearerTokenMiddleware(validator: validator, resourceMetadata: metadata.wellKnownURL))
        .get("report") { _, context -> String in
            guard let principal = context.principal else { throw HTTPError(.unauthorized) }
            do {
                let sql = try await downstream.acquireTokenOnBehalfOf(
                    assertion: principal.token, scopes: ["https://database.windows.net/.default"])
                return "\(principal.username ?? "someone"): \(sql.scopes.joined(separator: " "))"
            } catch let error as AcquisitionError {
                // MFA or step-up: 401 claims challenge; no consent: 403 consent form;
                // a block: 403 without a challenge; the API's own failures: 502/503.
                throw ChallengeRelay(error, authorizationURI: validator.authorizationEndpoint)
            }
        }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
    try await app.runService()
}
