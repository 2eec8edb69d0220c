public import AsyncHTTPClient
public import DeputyAuthority
import Foundation
import NIOCore
import NIOHTTP1

/// Fetches Client ID Metadata Documents with AsyncHTTPClient for the engine
/// (`ClientMetadataFetching` of DeputyAuthority): one GET, no redirects followed (a redirect is an
/// error), the body cut off at the limit, the whole exchange within the timeout.
public struct HTTPClientMetadataFetcher: ClientMetadataFetching {
    let client: HTTPClient

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// - Parameter httpClient: the client to fetch with; it trusts what the authority trusts.
    public init(httpClient: HTTPClient) { self.client = httpClient }

    public func fetch(_ url: String, limit: Int, timeout: TimeInterval) async throws -> (body: [UInt8], maxAge: TimeInterval?) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, deadline: .now() + .milliseconds(Int64(timeout * 1000)))
        guard response.status == .ok else {
            throw Failure(
                description: (300..<400).contains(response.status.code)
                    ? "it redirects (HTTP \(response.status.code))" : "HTTP \(response.status.code)")
        }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: limit) } catch {
            throw Failure(description: "it is larger than \(limit / 1024) KiB")
        }
        return (Array(buffer: body), Self.maxAge(response.headers.first(name: "Cache-Control")))
    }

    /// `max-age` of a Cache-Control value (RFC 9111 §5.2.2.1); `no-store` and `no-cache` are 0.
    static func maxAge(_ header: String?) -> TimeInterval? {
        guard let header else { return nil }
        var age: TimeInterval?
        for directive in header.lowercased().split(separator: ",") {
            let parts = directive.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.first == "no-store" || parts.first == "no-cache" { return 0 }
            if parts.first == "max-age", parts.count == 2,
                let n = TimeInterval(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
            {
                age = n
            }
        }
        return age
    }
}
