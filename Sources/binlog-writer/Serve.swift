import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipCLI

#if canImport(Glibc)
import Glibc
#endif

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hold the master open and run other processes' SQL: `exec` sends its text here when a server runs, and concurrent clients share fsyncs (group commit).",
        discussion: """
            Listens on DIR/writer.sock (mode 0600: only this user). `binlog-writer exec DIR`
            connects to it when it is there and answered, and opens the directory itself
            otherwise (or with --direct). Each client's commit line is sent only once its
            transaction is durable in the binlog and committed, as with a direct exec. A text
            that is one transaction (one statement, or one BEGIN … COMMIT block) joins the
            commit group; other texts run alone, in order, with exec's usual semantics.
            `binlog-writer rotate DIR` also goes through the server while one runs.
            SIGTERM or SIGINT: stops listening, commits the open group, closes the master,
            removes the socket and exits 0. After kill -9 the next open (a new serve, or a
            direct exec) recovers as after any crash; nothing acknowledged is lost.
            """)

    @OptionGroup var master: MasterOptions
    @OptionGroup var semiSync: SemiSyncOptions

    @Option(help: "Also serve metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9463): `status --prometheus` plus this process's fsync latency histogram and commit groups.")
    var metricsListen: String?

    func validate() throws {
        if let metricsListen, MetricsEndpoint.parse(metricsListen) == nil {
            throw ValidationError("--metrics-listen takes an IPv4 address and port, like 127.0.0.1:9463")
        }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let m = try master.open(semiSync: semiSync.settings)
            if let metricsListen {
                let directory = m.directory.path
                do {
                    try MetricsEndpoint.start(listen: metricsListen) { ((try? MasterStatus.read(directory).prometheus) ?? "") + m.processMetrics }
                } catch {
                    try? m.close()
                    throw error
                }
            }
            let path = WriterSocket.path(m.directory.path)
            let server: WriterServer
            do { server = try WriterServer(master: m, socketPath: path) } catch {
                try? m.close()
                throw error
            }
            signal(SIGPIPE, SIG_IGN)
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { server.stop() }
                source.resume()
                sources.append(source)
            }
            printError("binlog-writer", "serving \(m.directory.path) on \(path) (last LSN \(m.lastLSN))")
            server.acceptLoop()
            unlink(path)
            try m.close()
            let groups = m.groupStatistics
            printError("binlog-writer", "stopped; last LSN \(m.lastLSN), all of it durable (\(groups.transactions) transactions committed in \(groups.groups) groups)")
            if let semi = m.semiSyncStatistics {
                printError("binlog-writer", "semi-sync: \(semi.acknowledged) waits acknowledged, \(semi.timeouts) timed out, \(semi.degradedCommits) commits acknowledged degraded" + (semi.degraded ? "; still DEGRADED" : ""))
            }
            _ = sources
        }
    }
}

/// The socket's place and the wire format shared by `serve` and `exec`.
///
/// Frames both ways: one type byte, a 4-byte big-endian length, the payload. A client sends
/// `X` + SQL text; the server answers with `R` (a result row, as exec prints it), `C`
/// ("lsn commit_time_µs events", sent once durable) any number of times, then `D` (done) or
/// `E` ("exit_code\\nmessage"). `T` + seconds asks it to seal the active segment (`rotate`).
enum WriterSocket {
    static func path(_ directory: String) -> String { directory + "/writer.sock" }

    static func address(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    static func send(_ fd: Int32, _ type: UInt8, _ payload: [UInt8]) -> Bool {
        let n = UInt32(payload.count)
        let frame = [type, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
        return frame.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let k = Glibc.send(fd, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL))
                if k < 0 && errno == EINTR { continue }
                if k <= 0 { return false }
                done += k
            }
            return true
        }
    }

    static func receive(_ fd: Int32) -> (type: UInt8, payload: [UInt8])? {
        guard let head = readExactly(fd, 5) else { return nil }
        let n = Int(head[1]) << 24 | Int(head[2]) << 16 | Int(head[3]) << 8 | Int(head[4])
        guard let payload = readExactly(fd, n) else { return nil }
        return (head[0], payload)
    }

    private static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let k = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if k < 0 && errno == EINTR { continue }
            if k <= 0 { return nil }
            done += k
        }
        return out
    }
}

/// The listening side of `serve`: one thread per client connection, all on one `Master`.
final class WriterServer: @unchecked Sendable {
    let master: Master
    let socketPath: String
    private let listener: Int32
    private let stopLock = NSLock()
    private var stopping = false

    init(master: Master, socketPath: String) throws {
        self.master = master
        self.socketPath = socketPath
        guard var addr = WriterSocket.address(socketPath) else {
            throw MasterError(.invalid, "the socket path \(socketPath) is longer than a Unix socket address allows (107 bytes)",
                              hint: "serve a master whose path is shorter (a symlink to it works)")
        }
        // The lock is held: a socket left here by a server that was killed is stale.
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MasterError(.io, "socket: \(String(cString: strerror(errno)))") }
        // Created 0600 from the start: no other user may connect between bind and chmod.
        let oldMask = umask(0o177)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(oldMask)
        guard bound == 0, listen(fd, 64) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw MasterError(.io, "unable to listen on \(socketPath): \(e)")
        }
        listener = fd
    }

    /// Accepts clients until `stop`.
    func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                stopLock.lock(); let done = stopping; stopLock.unlock()
                if done { return }
                continue
            }
            let thread = Thread { [self] in serve(client) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    func stop() {
        stopLock.lock()
        stopping = true
        stopLock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        while let (type, payload) = WriterSocket.receive(fd) {
            if type == UInt8(ascii: "T") {
                guard rotate(fd, String(decoding: payload, as: UTF8.self)) else { return }
                continue
            }
            guard type == UInt8(ascii: "X") else { return }
            let sql = String(decoding: payload, as: UTF8.self)
            var ok = true
            do {
                try master.executeGrouped(sql, onRow: { row in
                    let line = row.databaseValues.map { $0.isNull ? "" : String(describing: $0.storage.value ?? "") }.joined(separator: "|")
                    ok = ok && WriterSocket.send(fd, UInt8(ascii: "R"), Array(line.utf8))
                }, onCommit: { info in
                    ok = ok && WriterSocket.send(fd, UInt8(ascii: "C"), Array("\(info.lsn) \(info.commitTime) \(info.events)".utf8))
                })
                ok = ok && WriterSocket.send(fd, UInt8(ascii: "D"), [])
            } catch {
                ok = ok && WriterSocket.send(fd, UInt8(ascii: "E"), Array("\(ExitStatus(error).rawValue)\n\(error)".utf8))
            }
            if !ok { return }
        }
    }
}

extension WriterServer {
    /// `T` + seconds (empty: no age condition): seals the active segment; answers `S` ("name
    /// last_lsn transactions"), `N` (nothing to seal) or `E`.
    fileprivate func rotate(_ fd: Int32, _ argument: String) -> Bool {
        do {
            if let sealed = try master.rotate(ifOlderThan: Double(argument)) {
                return WriterSocket.send(fd, UInt8(ascii: "S"), Array("\(sealed.name) \(sealed.footer.lastLSN) \(sealed.footer.transactionCount)".utf8))
            }
            return WriterSocket.send(fd, UInt8(ascii: "N"), [])
        } catch {
            return WriterSocket.send(fd, UInt8(ascii: "E"), Array("\(ExitStatus(error).rawValue)\n\(error)".utf8))
        }
    }
}

/// The client side, for `exec`: nil when no server answers on the directory's socket.
final class WriterConnection {
    private let fd: Int32

    init?(directory: String) {
        let path = WriterSocket.path(directory)
        guard var addr = WriterSocket.address(path), access(path, F_OK) == 0 else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Asks the server to seal the active segment (`rotate`).
    func rotate(ifOlderThan seconds: Double?) throws -> (name: String, lastLSN: UInt64, transactions: Int)? {
        guard WriterSocket.send(fd, UInt8(ascii: "T"), Array((seconds.map { "\($0)" } ?? "").utf8)) else {
            throw MasterError(.io, "the writer server closed the connection", hint: "run rotate again")
        }
        guard let (type, payload) = WriterSocket.receive(fd) else {
            throw MasterError(.io, "the writer server went away before answering", hint: "run rotate again")
        }
        let text = String(decoding: payload, as: UTF8.self)
        switch type {
        case UInt8(ascii: "N"): return nil
        case UInt8(ascii: "S"):
            let f = text.split(separator: " ")
            guard f.count == 3, let lsn = UInt64(f[1]), let n = Int(f[2]) else { throw MasterError(.io, "the writer server sent a malformed answer: \(text)") }
            return (String(f[0]), lsn, n)
        case UInt8(ascii: "E"):
            let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            printError("binlog-writer", parts.count > 1 ? String(parts[1]) : "the writer server reported a failure")
            throw ReportedFailure(ExitStatus(rawValue: Int32(parts.first ?? "") ?? 1) ?? .internalError)
        default:
            throw MasterError(.io, "the writer server sent an unknown message type \(type)")
        }
    }

    /// Sends the text and prints what comes back as a direct exec would; throws
    /// `ReportedFailure` with the server's exit status on an error.
    func exec(_ sql: String, printRow: (String) -> Void, printCommit: (UInt64, Int64, UInt64) -> Void) throws {
        guard WriterSocket.send(fd, UInt8(ascii: "X"), Array(sql.utf8)) else {
            throw MasterError(.io, "the writer server closed the connection before the SQL was sent",
                              hint: "nothing was run; run it again (without a server, exec opens the master itself)")
        }
        while true {
            guard let (type, payload) = WriterSocket.receive(fd) else {
                throw MasterError(.io, "the writer server went away before answering",
                                  hint: "the transactions printed above are durable; the others may or may not have committed: check with `binlog-writer status` or a query before running them again")
            }
            let text = String(decoding: payload, as: UTF8.self)
            switch type {
            case UInt8(ascii: "R"): printRow(text)
            case UInt8(ascii: "C"):
                let f = text.split(separator: " ")
                guard f.count == 3, let lsn = UInt64(f[0]), let time = Int64(f[1]), let events = UInt64(f[2]) else {
                    throw MasterError(.io, "the writer server sent a malformed commit: \(text)")
                }
                printCommit(lsn, time, events)
            case UInt8(ascii: "D"): return
            case UInt8(ascii: "E"):
                let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
                let status = ExitStatus(rawValue: Int32(parts.first ?? "") ?? 1) ?? .internalError
                printError("binlog-writer", parts.count > 1 ? String(parts[1]) : "the writer server reported a failure")
                throw ReportedFailure(status)
            default:
                throw MasterError(.io, "the writer server sent an unknown message type \(type)")
            }
        }
    }
}
