import Foundation
import LogshipSystem

// One policy for a time typed on a command line (`dump --since/--until`, `apply --until-time`,
// `restore --to-time`, `report --as-of-time`): it must say its zone, `Z` or an offset. A time
// without one was read as UTC, which an operator typing the local time of an incident would
// not expect: the restore would land hours away from the moment asked for, without a word.
// State files and the tools' own output always carry `Z`, so only typed times are concerned.

/// Why `text` is not a time a flag accepts (a date that does not exist, or no zone); nil when
/// it is one. `parseTimestamp` then reads it.
public func typedTimeProblem(_ text: String) -> String? {
    if let problem = timestampProblem(text) { return problem }
    let s = text.trimmingCharacters(in: .whitespaces)
    let zoned = s.hasSuffix("Z") || s.range(of: #"[T ][0-9:.]+[+-][0-9]{2}:?[0-9]{2}$"#, options: .regularExpression) != nil
    guard !zoned else { return nil }
    let example = s.count == 10 ? s + "T00:00:00Z" : s.replacingOccurrences(of: " ", with: "T") + "Z"
    return "no time zone: write UTC with Z (\(example)) or the local time with its offset (e.g. +01:00); times without a zone are refused, not guessed"
}
