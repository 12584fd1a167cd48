import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The exit-code table for `--help`, wrapped to the terminal's width with each summary's
/// continuation lines under its first word. ArgumentParser wraps help text to the same width
/// (COLUMNS, else the terminal, else 80) but starts continuation lines at the margin, which
/// broke the table's columns.
public func exitCodeHelp(width: Int = helpWidth()) -> String {
    let indent = String(repeating: " ", count: 4)
    return ExitStatus.allCases.map { status -> String in
        var lines: [String] = [], line = String(format: "%3d ", status.rawValue)
        for word in status.summary.split(separator: " ") {
            if line.count + 1 + word.count > width, line.count > indent.count {
                lines.append(line)
                line = indent
            }
            line += " " + word
        }
        return (lines + [line]).joined(separator: "\n")
    }.joined(separator: "\n")
}

/// The width help text is wrapped to, found as ArgumentParser finds it: COLUMNS, else the
/// terminal on stdout, else 80.
public func helpWidth() -> Int {
    if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return 80
}
