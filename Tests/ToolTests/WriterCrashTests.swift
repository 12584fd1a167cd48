import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// kill -9 `binlog-writer exec` processes at random moments while several clients commit
/// through one master (they take turns on its lock; the next one in recovers what the killed
/// one left), then check against independent oracles: every acknowledged transaction is there,
/// no transaction is there in part, and the master database equals a replay of its binlog.
/// The fault is proven to fire: most kills hit the client holding the lock, mid-script.
/// LOGSHIP_CRASH_CYCLES sets the cycles (default 10); `tools/torture master-crash` runs 200.
final class WriterCrashTests: XCTestCase {
    func testKill9UnderConcurrentClientsLosesNothingAcknowledged() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let cycles = Int(ProcessInfo.processInfo.environment["LOGSHIP_CRASH_CYCLES"] ?? "") ?? 10
        let dir = TestDirectory("crash")
        var master = ""
        var oracle = MasterOracle()
        var acknowledgedInAll = 0   // the oracle starts over with each new master
        var kills = 0, killedHolding = 0, killedMidWork = 0, clientsRun = 0
        var recovered = MasterOracle.Recovery()
        for cycle in 1...cycles {
            let context = "cycle \(cycle), seed \(seed) (rerun with LOGSHIP_SEED=\(seed))"
            // A new master every 25 cycles keeps the replay oracle short.
            if (cycle - 1) % 25 == 0 {
                master = dir.sub("master-\(cycle)")
                try MasterOracle.makeMaster(master)
                oracle = MasterOracle()
            }
            var clients: [WriterClient] = []
            for c in 0..<Int.random(in: 2...4, using: &rng) {
                let script = TaggedScript(prefix: "c\(cycle)k\(c)", count: Int.random(in: 20...60, using: &rng), maxPayload: 400, rng: &rng)
                oracle.expect(script)
                clients.append(try WriterClient(master: master, script: script, file: dir.sub("script-\(c).sql")))
            }
            clientsRun += clients.count
            var victims: [(client: WriterClient, holding: Bool)] = []
            for k in 0..<Int.random(in: 1...2, using: &rng) {
                if k == 0 {
                    // The first kill at a random point of a random client's script (so it lands
                    // mid-work however fast the machine is), plus up to 3 ms: inside a commit.
                    let chosen = clients[Int.random(in: 0..<clients.count, using: &rng)]
                    chosen.waitForAcknowledgements(Int.random(in: 1..<chosen.script.statements.count, using: &rng))
                    usleep(UInt32.random(in: 0...3_000, using: &rng))
                } else {
                    // The second at a random moment: often while the next client recovers.
                    usleep(UInt32.random(in: 0...100_000, using: &rng))
                }
                let running = clients.filter { $0.process.isRunning && !victims.map(\.client.pid).contains($0.pid) }
                guard !running.isEmpty else { break }
                let holder = MasterOracle.lockHolder(master, among: running)
                let victim = holder ?? running[Int.random(in: 0..<running.count, using: &rng)]
                kill(victim.pid, SIGKILL)
                victims.append((victim, holder != nil))
            }
            for client in clients {
                let (killed, acknowledged) = client.finish()
                oracle.acknowledged += acknowledged
                acknowledgedInAll += acknowledged.count
                if !killed {
                    XCTAssertEqual(client.process.terminationStatus, 0, "a client that was not killed failed; \(context)")
                    XCTAssertEqual(acknowledged.count, client.script.statements.count, "a client that was not killed acknowledged part of its script; \(context)")
                }
                guard let v = victims.first(where: { $0.client === client }), killed else { continue }
                kills += 1
                if v.holding { killedHolding += 1 }
                if v.holding && acknowledged.count < client.script.statements.count { killedMidWork += 1 }
            }
            let r = try oracle.check(master, context: context)
            recovered.redone += r.redone
            recovered.tornTails += r.tornTails
            recovered.completedSeals += r.completedSeals
        }
        // Prove the fault fired: most cycles killed the lock holder before its script was done.
        XCTAssertGreaterThan(killedMidWork, cycles / 2, "only \(killedMidWork) of \(kills) kills hit the lock holder mid-script; seed \(seed)")
        print("figures: master-crash: \(cycles) cycles, \(clientsRun) clients, \(kills) killed by SIGKILL (\(killedHolding) holding the lock, \(killedMidWork) of them mid-script), "
              + "\(acknowledgedInAll) acknowledged transactions all kept, 0 partial; recovery redid transactions after \(recovered.redone) cycles, "
              + "dropped a torn tail after \(recovered.tornTails), completed a seal after \(recovered.completedSeals); seed \(seed)")
    }
}
