import Crypto
import CryptoExtras
public import DeputyCore
import Foundation
import JWTKit

/// Validates JWTs against a key set and a ``ValidationPolicy``: algorithm allow-list, signature
/// (jwt-kit), issuer, lifetime, audience. One validator serves the authority (OBO assertions,
/// token exchange) and, from the libraries issue on, every resource.
public struct TokenValidator: Sendable {
    let keys: KeySet
    let time: any TimeSource

    /// A validator over a key set (e.g. built from a JWKS with ``TokenValidator/keys(jwksJSON:)``).
    public init(keys: KeySet, time: any TimeSource = SystemTimeSource()) {
        self.keys = keys
        self.time = time
    }

    /// Tokens larger than this are refused before they are parsed (Entra's are a few KiB).
    public static let maximumTokenSize = 16 * 1024

    /// A key set from a JWKS document.
    public static func keys(jwksJSON: String) async throws -> KeySet { try await KeySet(jwksJSON: jwksJSON) }

    /// Validates a token.
    /// - Throws: ``TokenValidationError`` naming the first check that failed, in this order:
    ///   shape, algorithm, critical headers, key and signature, issuer, lifetime (`exp`, `nbf`,
    ///   `iat`), audience.
    public func validate(_ token: String, policy: ValidationPolicy) async throws(TokenValidationError) -> ValidatedToken {
        guard token.utf8.count <= Self.maximumTokenSize else {
            throw .malformed("The token is larger than \(Self.maximumTokenSize) bytes.")
        }
        let jwt: UnverifiedJWT
        do { jwt = try UnverifiedJWT(token) } catch { throw .malformed(error.reason) }
        return try await validate(token, parsed: jwt, policy: policy)
    }

    /// Validates a token its caller has already split and decoded (so it is not decoded twice).
    public func validate(
        _ token: String, parsed jwt: UnverifiedJWT, policy: ValidationPolicy
    ) async throws(TokenValidationError) -> ValidatedToken {
        // The header's alg is checked against the allow-list before any key is used
        // (RFC 8725 §3.1: "libraries MUST enable the caller to specify a supported set of algorithms").
        guard let alg = jwt.header["alg"]?.stringValue, policy.algorithms.contains(alg) else {
            throw .algorithmNotAllowed(jwt.header["alg"]?.stringValue ?? "(none)")
        }
        // RFC 7515 §4.1.11: a recipient that does not understand an extension listed in `crit`
        // MUST reject the JWS. Deputy understands none, and Entra never sets `crit`.
        if let crit = jwt.header["crit"] {
            throw .criticalHeaderNotUnderstood(crit.arrayValue?.compactMap(\.stringValue) ?? ["\(crit)"])
        }
        // The kid must name one of the keys: jwt-kit would otherwise try its default key, and a
        // rotated issuer key would look like a bad signature instead of a reason to refresh.
        guard let kid = jwt.header["kid"]?.stringValue, keys.kids.contains(kid) else {
            throw .unknownKey(jwt.header["kid"]?.stringValue ?? "(none)")
        }
        if alg == "RS256", let key = keys.rs256[kid] {
            // RS256 (RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256) straight against the key:
            // jwt-kit's key collection is an actor, so every verification in the process would
            // otherwise queue behind one executor (measured: the OBO benchmark used one core of two).
            let digest = SHA256.hash(data: Array(jwt.signingInput.utf8))
            let signature = _RSA.Signing.RSASignature(rawRepresentation: jwt.signature)
            guard key.isValidSignature(signature, for: digest, padding: .insecurePKCS1v1_5) else { throw .badSignature }
        } else {
            do {
                _ = try await keys.collection.verify(token, as: AnyClaims.self)
            } catch let error as JWTError where error.errorType == .unknownKID {
                throw .unknownKey(kid)
            } catch {
                throw .badSignature
            }
        }
        let claims = ValidatedToken(raw: token, header: jwt.header, claims: jwt.claims)
        guard let iss = claims.issuer, policy.issuers.contains(iss) else { throw .wrongIssuer(claims.issuer ?? "(none)") }
        let now = time.now()
        guard let exp = claims.expiresAt, exp + policy.clockSkew > now else { throw .expired(now: now, expiry: claims.expiresAt) }
        if let nbf = claims.claims["nbf"]?.numberValue.map({ Date(timeIntervalSince1970: $0) }), nbf - policy.clockSkew > now {
            throw .notYetValid(now: now, notBefore: nbf)
        }
        // A token issued in the future (beyond the skew) was not issued by a clock Deputy trusts:
        // RFC 7519 §4.1.6 leaves it to the application; Entra's validation libraries refuse it.
        if let iat = claims.issuedAt, iat - policy.clockSkew > now { throw .issuedInFuture(now: now, issuedAt: iat) }
        let audiences: [String] = claims.string("aud").map { [$0] } ?? claims.claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard audiences.contains(where: policy.audiences.contains) else { throw .wrongAudience(audiences.joined(separator: " ")) }
        return claims
    }
}

/// Verification keys: jwt-kit's collection plus the key ids it holds, and the RSA keys usable
/// for RS256 (the algorithm Entra signs with) ready for direct verification.
public struct KeySet: Sendable {
    let collection: JWTKeyCollection
    /// The `kid`s of the keys.
    public let kids: Set<String>
    /// RSA signing keys by `kid`, for RS256 without going through jwt-kit's actor.
    let rs256: [String: _RSA.Signing.PublicKey]

    /// Imports a JWKS document (keys without `kid` cannot be chosen and are left out of `kids`).
    public init(jwksJSON: String) async throws {
        collection = try await JWTKeyCollection().add(jwksJSON: jwksJSON)
        let parsed = try JSONParser.parse(jwksJSON.utf8)
        let jwks = parsed.objectValue?["keys"]?.arrayValue?.compactMap(\.objectValue) ?? []
        kids = Set(jwks.compactMap { $0["kid"]?.stringValue })
        rs256 = Self.rs256Keys(jwks)
    }

    /// The JWKs that are RSA keys for signatures with RS256 or no stated algorithm
    /// (RFC 7517 §4.2 `use`, §4.4 `alg`; RFC 7518 §6.3.1 `n` and `e`). A `kid` listed more than
    /// once, a key jwt-kit would read differently, or one under 2,048 bits stays with jwt-kit.
    static func rs256Keys(_ jwks: [[String: JSONValue]]) -> [String: _RSA.Signing.PublicKey] {
        var counts: [String: Int] = [:]
        for jwk in jwks { if let kid = jwk["kid"]?.stringValue { counts[kid, default: 0] += 1 } }
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        for jwk in jwks {
            guard let kid = jwk["kid"]?.stringValue, counts[kid] == 1, jwk["kty"]?.stringValue == "RSA",
                jwk["alg"].map({ $0.stringValue == "RS256" }) ?? true, jwk["use"].map({ $0.stringValue == "sig" }) ?? true,
                let n = jwk["n"]?.stringValue.flatMap({ Base64URL.decode($0) }),
                let e = jwk["e"]?.stringValue.flatMap({ Base64URL.decode($0) }),
                let key = try? _RSA.Signing.PublicKey(n: n, e: e)
            else { continue }
            keys[kid] = key
        }
        return keys
    }
}

/// jwt-kit needs a payload type; the claims are read from the token itself once the signature
/// has been verified, so this one accepts any JSON object.
struct AnyClaims: JWTPayload {
    /// Nothing to decode: the claims were already read (once) by `UnverifiedJWT`.
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
