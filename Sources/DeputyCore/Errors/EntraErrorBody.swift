public import Foundation

/// Entra's JSON error body, as the token endpoint returns it.
///
/// ```json
/// {"error":"invalid_grant","error_description":"AADSTS50126: …\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: 2024-01-01 10:00:00Z",
///  "error_codes":[50126],"timestamp":"2024-01-01 10:00:00Z","trace_id":"…","correlation_id":"…",
///  "error_uri":"https://login.microsoftonline.com/error?code=50126"}
/// ```
/// (Microsoft Learn, "Microsoft identity platform authentication and authorization error codes"). `error_codes` are
/// integers; `claims` is a JSON *string*.
public struct EntraErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var errorDescription: String
    public var errorCodes: [Int]?
    public var timestamp: String?
    public var traceId: String?
    public var correlationId: String?
    public var errorUri: String?
    public var suberror: String?
    public var claims: String?

    enum CodingKeys: String, CodingKey {
        case error
        case errorDescription = "error_description"
        case errorCodes = "error_codes"
        case timestamp
        case traceId = "trace_id"
        case correlationId = "correlation_id"
        case errorUri = "error_uri"
        case suberror, claims
    }

    public init(
        error: String, errorDescription: String, errorCodes: [Int]? = nil, timestamp: String? = nil,
        traceId: String? = nil, correlationId: String? = nil, errorUri: String? = nil,
        suberror: String? = nil, claims: String? = nil
    ) {
        self.error = error
        self.errorDescription = errorDescription
        self.errorCodes = errorCodes
        self.timestamp = timestamp
        self.traceId = traceId
        self.correlationId = correlationId
        self.errorUri = errorUri
        self.suberror = suberror
        self.claims = claims
    }

    /// Renders an ``OAuthError`` exactly as Entra does.
    /// - Parameters:
    ///   - error: the error from the catalogue.
    ///   - traceId: the request's trace id (`trace_id`).
    ///   - correlationId: the caller's `client-request-id`, or one made for the request.
    ///   - date: when the error happened (`timestamp`).
    ///   - errorURIBase: the authority's base URL; `error_uri` becomes `{base}/error?code=N`.
    public init(_ error: OAuthError, traceId: String, correlationId: String, at date: Date, errorURIBase: String) {
        if error.rfc6749Only {
            // RFC 6749 §5.2's members (RFC 8693 §2.2.2 answers in that form), plus Entra's claims
            // challenge and suberror when Conditional Access interrupts a token exchange: without
            // them the caller cannot relay the step-up to the user's client. Clients that do not
            // know the two members ignore them.
            self.init(error: error.error.rawValue, errorDescription: error.shortDescription, suberror: error.suberror, claims: error.claims)
            return
        }
        let stamp = EntraErrorBody.timestampFormat(date)
        self.init(
            error: error.error.rawValue,
            errorDescription:
                "\(error.shortDescription)\r\nTrace ID: \(traceId)\r\nCorrelation ID: \(correlationId)\r\nTimestamp: \(stamp)",
            errorCodes: error.aadsts.map { [$0] }, timestamp: stamp, traceId: traceId, correlationId: correlationId,
            errorUri: error.aadsts.map { "\(errorURIBase)/error?code=\($0)" }, suberror: error.suberror, claims: error.claims)
    }

    /// Entra's timestamp format, `yyyy-MM-dd HH:mm:ssZ` in UTC.
    public static func timestampFormat(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    /// The AADSTS number at the start of `error_description`, if any (how clients read Entra errors).
    public var aadsts: Int? {
        if let first = errorCodes?.first { return first }
        guard errorDescription.hasPrefix("AADSTS") else { return nil }
        return Int(errorDescription.dropFirst(6).prefix { $0.isNumber })
    }
}
