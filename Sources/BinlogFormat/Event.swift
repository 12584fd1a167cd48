import Foundation

/// A column of a table descriptor: name, declared type, position in the primary key.
public struct ColumnDescriptor: Equatable, Sendable {
    public var name: String
    public var declaredType: String
    /// 0 when the column is not in the primary key, otherwise its 1-based position in it.
    public var primaryKeyPosition: Int
    /// True for generated columns, which a replica computes itself and never writes.
    public var isGenerated: Bool

    public init(name: String, declaredType: String, primaryKeyPosition: Int = 0, isGenerated: Bool = false) {
        self.name = name
        self.declaredType = declaredType
        self.primaryKeyPosition = primaryKeyPosition
        self.isGenerated = isGenerated
    }
}

/// What a reader needs to apply a row event without the master's schema: the table's
/// name, columns, declared types, primary key and whether rows are keyed by rowid.
public struct TableDescriptor: Equatable, Sendable {
    public var name: String
    public var columns: [ColumnDescriptor]
    public var withoutRowid: Bool

    public init(name: String, columns: [ColumnDescriptor], withoutRowid: Bool = false) {
        self.name = name
        self.columns = columns
        self.withoutRowid = withoutRowid
    }

    /// Primary-key column indexes in key order.
    public var primaryKeyColumns: [Int] {
        columns.indices.filter { columns[$0].primaryKeyPosition > 0 }
            .sorted { columns[$0].primaryKeyPosition < columns[$1].primaryKeyPosition }
    }

    /// The column that aliases the rowid (`INTEGER PRIMARY KEY`), if any.
    public var rowidAliasColumn: Int? {
        guard !withoutRowid else { return nil }
        let pk = primaryKeyColumns
        guard pk.count == 1, columns[pk[0]].declaredType.uppercased() == "INTEGER" else { return nil }
        return pk[0]
    }
}

/// One change in a transaction, in the order the master made it.
public enum Event: Equatable, Sendable {
    /// A row inserted; `rowid` is nil for WITHOUT ROWID tables.
    case insert(table: TableDescriptor, rowid: Int64?, values: [Value])
    /// A row changed, with the full before and after images; the rowid may change too.
    case update(table: TableDescriptor, oldRowid: Int64?, newRowid: Int64?, old: [Value], new: [Value])
    /// A row deleted, with its full before image.
    case delete(table: TableDescriptor, rowid: Int64?, old: [Value])
    /// A schema change (CREATE/ALTER/DROP TABLE, CREATE/DROP INDEX, views, triggers) as SQL.
    case ddl(sql: String)

    public var tableName: String? {
        switch self {
        case .insert(let t, _, _), .update(let t, _, _, _, _), .delete(let t, _, _): return t.name
        case .ddl: return nil
        }
    }

    public var isRowEvent: Bool { if case .ddl = self { return false } else { return true } }
}

/// A committed transaction: its LSN, master commit time and every change, in order.
public struct Transaction: Equatable, Sendable {
    public var lsn: UInt64
    /// Master commit time, microseconds since 1970-01-01 UTC.
    public var commitTime: Int64
    public var events: [Event]
    /// The digest marker the transaction ends with, if any: every user table's content digest
    /// after this transaction (docs/FORMAT.md §4.4). Not an event: it changes nothing.
    public var digest: DigestMarker?

    public init(lsn: UInt64, commitTime: Int64, events: [Event], digest: DigestMarker? = nil) {
        self.lsn = lsn
        self.commitTime = commitTime
        self.events = events
        self.digest = digest
    }
}

/// Microseconds since 1970-01-01 UTC, the binlog's clock unit.
public func microsecondsNow() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
}

/// ISO 8601 with microseconds in UTC, the way every tool prints a commit time.
public func formatTimestamp(_ micros: Int64) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    appendTimestamp(micros, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

/// Appends `formatTimestamp(micros)`'s bytes. Built by hand, without gmtime_r (which takes the
/// time-zone lock) or String pieces: exec prints one of these per durable commit, and
/// String(format:) alone cost tens of microseconds on Linux.
public func appendTimestamp(_ micros: Int64, to out: inout [UInt8]) {
    let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
    let fraction = Int(micros - seconds * 1_000_000)
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = Int(seconds - days * 86_400)
    // Civil date from days since 1970-01-01 (proleptic Gregorian; eras of 400 years).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
    let month = Int(mp < 10 ? mp + 3 : mp - 9)
    let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
    func number(_ value: Int, _ width: Int) {
        var v = value
        if v < 0 { out.append(UInt8(ascii: "-")); v = -v }
        var divisor = 1, digits = 1
        while divisor <= v / 10 { divisor *= 10; digits += 1 }
        for _ in digits..<max(digits, width) { out.append(UInt8(ascii: "0")) }
        while divisor > 0 {
            out.append(UInt8(48 + v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
    number(year, 4); out.append(UInt8(ascii: "-")); number(month, 2); out.append(UInt8(ascii: "-")); number(day, 2)
    out.append(UInt8(ascii: "T")); number(secondOfDay / 3_600, 2); out.append(UInt8(ascii: ":"))
    number(secondOfDay / 60 % 60, 2); out.append(UInt8(ascii: ":")); number(secondOfDay % 60, 2)
    out.append(UInt8(ascii: ".")); number(fraction, 6); out.append(UInt8(ascii: "Z"))
}

/// Parses `2024-05-01`, `2024-05-01T12:00:00Z`, `2024-05-01 12:00:00.123456` (UTC unless an
/// offset is given) into microseconds since 1970-01-01 UTC; nil for anything else, including a
/// date or time that does not exist (see `timestampProblem`).
public func parseTimestamp(_ text: String) -> Int64? {
    guard case .success(let micros) = readTimestamp(text) else { return nil }
    return micros
}

/// Why `text` is not a timestamp `parseTimestamp` accepts, for error messages ("February 2026
/// has 28 days"); nil when it is one.
public func timestampProblem(_ text: String) -> String? {
    guard case .failure(let problem) = readTimestamp(text) else { return nil }
    return problem.reason
}

/// A timestamp that does not parse, and why.
private struct TimestampProblem: Error {
    var reason: String
}

/// Days in `month` (1…12) of `year` in the proleptic Gregorian calendar.
func daysInMonth(_ month: Int, of year: Int) -> Int {
    switch month {
    case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Every field is checked against the calendar before it is converted: timegm would roll
/// `2026-02-30` over to March 2 and `24:00` to the next day, and a restore would silently
/// target another time than the one asked for (issue 12).
private func readTimestamp(_ text: String) -> Result<Int64, TimestampProblem> {
    let s = text.trimmingCharacters(in: .whitespaces)
    let pattern = #"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$"#
    guard let re = try? NSRegularExpression(pattern: pattern),
          let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) else {
        return .failure(TimestampProblem(reason: "not a time (use 2026-11-27, 2026-11-27T12:00:00Z or 2026-11-27 12:00:00.123456+01:00)"))
    }
    func number(_ i: Int) -> Int? {
        guard let r = Range(m.range(at: i), in: s) else { return nil }
        return Int(s[r])
    }
    let y = number(1) ?? 0, mo = number(2) ?? 0, d = number(3) ?? 0
    let h = number(4) ?? 0, mi = number(5) ?? 0, sec = number(6) ?? 0
    guard (1...12).contains(mo) else { return .failure(TimestampProblem(reason: "month \(mo) does not exist")) }
    guard (1...daysInMonth(mo, of: y)).contains(d) else {
        return .failure(TimestampProblem(reason: "day \(d) does not exist: month \(mo) of \(y) has \(daysInMonth(mo, of: y)) days"))
    }
    guard h < 24, mi < 60, sec < 60 else {
        return .failure(TimestampProblem(reason: "\(h):\(mi):\(sec) is not a time of day (hours 00-23, minutes and seconds 00-59)"))
    }
    var micros = 0
    if let r = Range(m.range(at: 7), in: s) {
        let f = String(s[r])
        micros = Int(f + String(repeating: "0", count: 6 - f.count)) ?? 0
    }
    var tmv = tm()
    tmv.tm_year = Int32(y - 1900); tmv.tm_mon = Int32(mo - 1); tmv.tm_mday = Int32(d)
    tmv.tm_hour = Int32(h); tmv.tm_min = Int32(mi); tmv.tm_sec = Int32(sec)
    var seconds = Int64(timegm(&tmv))
    if let r = Range(m.range(at: 8), in: s), s[r] != "Z" {
        let z = s[r]
        let sign: Int64 = z.hasPrefix("-") ? -1 : 1
        let digits = z.dropFirst().replacingOccurrences(of: ":", with: "")
        let oh = Int64(digits.prefix(2)) ?? 0, om = Int64(digits.suffix(2)) ?? 0
        guard oh < 24, om < 60 else { return .failure(TimestampProblem(reason: "UTC offset \(z) does not exist (hours 00-23, minutes 00-59)")) }
        seconds -= sign * (oh * 3600 + om * 60)
    }
    return .success(seconds * 1_000_000 + Int64(micros))
}
