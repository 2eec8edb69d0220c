import CLibFuzzer
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What every fuzz target shares: the input as the server sees it, and property checks.
///
/// A failed check stops the fuzzer like a crash does (libFuzzer reports the deadly signal and
/// writes the input to `crash-<sha1>`), so a parser that answers wrongly is found as surely as
/// one that traps.
public enum Fuzz {
    /// The input as text. Invalid UTF-8 is repaired with U+FFFD, as `String(decoding:as:)` does
    /// where a server turns a request body or header into a `String`.
    public static func text(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    }

    /// The input's bytes.
    public static func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> Data {
        Data(UnsafeBufferPointer(start: data, count: size))
    }

    /// `DEPUTY_FUZZ_VERBOSE=1` prints what each input gave: run a target binary on seed files
    /// (`.build/debug/FuzzForm Corpus/FuzzForm/*`) to see that the seeds are accepted.
    public static let verbose = ProcessInfo.processInfo.environment["DEPUTY_FUZZ_VERBOSE"] == "1"

    /// Prints `message` in verbose mode.
    public static func log(_ message: @autoclosure () -> String) {
        if verbose { print(message()) }
    }

    /// `DEPUTY_FUZZ_STRICT=1` also checks the properties that do not hold today (``checkKnown(_:_:file:line:)``).
    public static let strict = ProcessInfo.processInfo.environment["DEPUTY_FUZZ_STRICT"] == "1"

    /// A property that a known finding breaks (Fuzz/README.md, "Known findings"): checked only in
    /// strict mode, so that every run does not stop at the same finding, and so that a fix can be
    /// confirmed with `DEPUTY_FUZZ_STRICT=1 Fuzz/run 60 <Target>`.
    public static func checkKnown(
        _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        if strict { check(condition(), "(known finding) \(message())", file: file, line: line) }
    }

    /// Stops the process with `message` when a property of the parser does not hold.
    public static func check(
        _ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        if !condition { fatalError("property violated: \(message())", file: file, line: line) }
    }
}

extension Fuzz {
    /// A target's `LLVMFuzzerTestOneInput`.
    public typealias TestOneInput = (UnsafePointer<UInt8>, Int) -> CInt

    /// The target being fuzzed, set once by ``main(_:)`` before libFuzzer starts.
    nonisolated(unsafe) private static var test: TestOneInput = { _, _ in 0 }

    /// Runs libFuzzer on `test` with the process's arguments and exits with its status. Each
    /// target's `@main` calls it (see CLibFuzzer.h for why not libFuzzer's own `main`).
    public static func main(_ test: @escaping TestOneInput) -> Never {
        Fuzz.test = test
        // libFuzzer leaves a signal alone when a handler is already installed, and the Swift
        // runtime's backtracer installs one for crashes: give them back to libFuzzer, which then
        // reports the crash and writes the input to a `crash-<sha1>` file.
        for number in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            _ = signal(number, SIG_DFL)
        }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(
            LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                if let data { return Fuzz.test(data, size) }
                return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { Fuzz.test(UnsafePointer($0.baseAddress!), 0) }
            })
    }
}
