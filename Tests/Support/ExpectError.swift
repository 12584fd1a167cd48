import Foundation
import XCTest

// The one way a test expects a thrown error. The test targets used to carry their own copies
// (expectMasterError, expectReplicaError, ShipSafetyTests.configError), identical but for the
// type; the typed names that remain forward here. BinlogFormatTests keeps its expectFormatError:
// it does not link this module (and with it GRDB), so that the format's tests stay SQLite-free
// like the format itself.

/// Runs `body` expecting it to throw an `E`; returns that error, or records a failure (and
/// returns nil) when nothing or something else was thrown.
@discardableResult
public func expectError<E: Error, T>(_ errorType: E.Type, _ context: @autoclosure () -> String = "",
                                     file: StaticString = #filePath, line: UInt = #line,
                                     _ body: () throws -> T) -> E? {
    do {
        _ = try body()
        XCTFail("expected a \(E.self), nothing was thrown. \(context())", file: file, line: line)
        return nil
    } catch let e as E {
        return e
    } catch {
        XCTFail("expected a \(E.self), got \(type(of: error)): \(error). \(context())", file: file, line: line)
        return nil
    }
}

/// Runs `body` expecting an `E` whose kind (read through `kindPath`) is `kind` and whose
/// description contains every string of `containing`; returns it (nil after a recorded failure
/// when nothing or another type was thrown; a wrong kind or a missing string is recorded too,
/// and the error still returned for further checks).
@discardableResult
public func expectError<E: Error & CustomStringConvertible, K: Equatable, T>(
    _ kind: K, at kindPath: KeyPath<E, K>, containing: [String] = [], _ context: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) -> E? {
    guard let e = expectError(E.self, "expected kind \(kind). \(context())", file: file, line: line, body) else { return nil }
    XCTAssertEqual(e[keyPath: kindPath], kind, "wrong kind for: \(e). \(context())", file: file, line: line)
    for s in containing {
        XCTAssertTrue(e.description.contains(s), "error does not mention \"\(s)\": \(e). \(context())", file: file, line: line)
    }
    return e
}
