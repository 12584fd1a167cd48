import Foundation
import XCTest

extension ToolRunner {
    /// Runs `tool` and records a failure, with the command, its stderr and `context` (a seed, a
    /// round), unless it exits 0; returns the result either way so the test can go on.
    @discardableResult
    public static func expectSuccess(_ tool: String, _ arguments: [String], stdin: String? = nil, context: String = "",
                                     file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let r = try run(tool, arguments, stdin: stdin)
        XCTAssertEqual(r.status, 0, "\(tool) \(arguments.joined(separator: " ")): \(r.stderr)\(context.isEmpty ? "" : "; \(context)")",
                       file: file, line: line)
        return r
    }
}
