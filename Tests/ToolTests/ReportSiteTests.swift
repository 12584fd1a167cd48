import Foundation
import LogshipTestSupport
import XCTest

/// `report site`: the sample config published from real replicas, every page, link and
/// download checked; the publish is all or nothing; the config is read strictly.
final class ReportSiteTests: XCTestCase {
    func testTheSampleSiteHasEveryPageLinkAndDownload() throws {
        let f = try ReportSiteFixture("site-sample")
        let r = try f.runSite()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout + r.stderr, "", "quiet on success, for cron")
        let files = try f.siteFiles()
        var expected: Set<String> = ["index.html"]
        for report in ReportSiteFixture.sampleReports {
            expected.insert(report.name + ".html")
            for d in report.downloads { expected.insert(report.name + "." + d) }
        }
        XCTAssertEqual(Set(files.keys), expected)
        let index = String(decoding: files["index.html"] ?? Data(), as: UTF8.self)
        for (name, data) in files where name.hasSuffix(".html") {
            let links = ReportSiteFixture.links(String(decoding: data, as: UTF8.self))
            XCTAssertFalse(links.isEmpty, "\(name) links nowhere")
            for link in links { XCTAssertNotNil(files[link], "\(name) links to \(link), which is not in the site") }
        }
        XCTAssertEqual(Set(ReportSiteFixture.links(index)), expected.subtracting(["index.html"]), "the index links every page and download")
        let lsn = try appliedLSN(ofStore: f.pipeline.replica + "/store.db")
        XCTAssertEqual(index.components(separatedBy: "<td class=\"n\">\(lsn)</td>").count - 1, 4, "each report's LSN: \(index)")
        XCTAssertTrue(index.contains(f.pipeline.replica) || index.contains(f.second), "the store read is named")
        try checkDownloads(f, files)
    }

    /// Each CSV is what `report … -f csv` prints from the same store (header included); each
    /// JSON parses, has the same sections as `report … -f json`, and the index's LSN.
    private func checkDownloads(_ f: ReportSiteFixture, _ files: [String: Data]) throws {
        let store = f.pipeline.replica
        let commands: [String: [String]] = [
            "monthly-expenses": ["monthly-expenses", "--top", "10"],
            "top-merchants-eur-2024": ["query", "--file", f.configDir + "/top-merchants.sql", "--param", "currency=EUR",
                                       "--param", "from=2024-01-01", "--param", "to=2024-12-31", "--title", "Top merchants, EUR, 2024"],
            "yearly-by-category": ["query", "--file", f.configDir + "/yearly-by-category.sql", "--title", "Yearly totals by category"],
            "payment-methods-eur": ["query", "--file", f.configDir + "/payment-methods.sql", "--param", "currency=EUR", "--title", "Payment methods, EUR"],
        ]
        let headers = ["top-merchants-eur-2024": "merchant,expenses,total,first_seen,last_seen",
                       "yearly-by-category": "year,currency,category,expenses,total,share_pct",
                       "payment-methods-eur": "paid_with,expenses,total"]
        for report in ReportSiteFixture.sampleReports {
            let args = try XCTUnwrap(commands[report.name])
            let csv = String(decoding: try XCTUnwrap(files[report.name + ".csv"]), as: UTF8.self)
            let standalone = try ToolRunner.run("report", args + ["--store", store, "-f", "csv"])
            XCTAssertEqual(standalone.status, 0, standalone.stderr)
            XCTAssertEqual(csv, standalone.stdout, report.name)
            // RFC 4180 line ends (CRLF: one Character in Swift, so split on the string).
            let lines = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            if let header = headers[report.name] { XCTAssertEqual(lines.first, header) }
            XCTAssertGreaterThan(lines.count, 1, "\(report.name).csv has rows")
            guard report.downloads.contains("json") else { continue }
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(files[report.name + ".json"])) as? [String: Any], report.name)
            let own = try ToolRunner.run("report", args + ["--store", store, "-f", "json"])
            let reference = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(own.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(json["sections"] as? NSArray, reference["sections"] as? NSArray, report.name)
            XCTAssertEqual(json["title"] as? String, reference["title"] as? String)
            XCTAssertEqual((json["freshness"] as? [String: Any])?["lsn"] as? Int, try Int(appliedLSN(ofStore: store + "/store.db")))
        }
    }

    func testARebuildSwapsTheLinkAndKeepsOnlyThePreviousVersion() throws {
        let f = try ReportSiteFixture("site-versions")
        var targets: [String] = []
        for round in 0..<3 {
            if round > 0 {
                try f.pipeline.execAll("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-07-0\(round)', 'Travel', 'Rail', 100, 'EUR');")
                try f.pipeline.rotate()
                for target in [f.pipeline.replica, f.second] { try f.pipeline.ship(to: target); try f.pipeline.apply(target) }
            }
            let r = try f.runSite(round == 2 ? ["--verbose"] : [])
            XCTAssertEqual(r.status, 0, r.stderr)
            if round == 2 {
                let lsn = try appliedLSN(ofStore: f.pipeline.replica + "/store.db")
                XCTAssertEqual(r.stdout.split(separator: "\n").map { String($0.prefix { $0 != ":" }) },
                               ReportSiteFixture.sampleReports.map { "\(f.site)/\($0.name).html" }, r.stdout)
                XCTAssertTrue(r.stdout.split(separator: "\n").allSatisfy { $0.contains("data as of LSN \(lsn),") }, r.stdout)
            }
            targets.append(try FileManager.default.destinationOfSymbolicLink(atPath: f.site))
        }
        XCTAssertEqual(Set(targets).count, 3, "each run publishes a new version: \(targets)")
        let versions = try f.besideSite().filter { $0.hasPrefix("reports.site-") }
        XCTAssertEqual(versions, targets.suffix(2).sorted(), "the current and the previous version are kept, older ones removed")
        XCTAssertEqual(try f.besideSite().filter { $0.hasPrefix(".") }, [".reports.lock"], "no build directory or link left behind")
        let index = String(decoding: try f.siteFiles()["index.html"] ?? Data(), as: UTF8.self)
        XCTAssertTrue(index.contains("<td class=\"n\">\(try appliedLSN(ofStore: f.pipeline.replica + "/store.db"))</td>"))
    }

    func testAFailureMidwayLeavesThePreviousSiteIntact() throws {
        let f = try ReportSiteFixture("site-failure")
        XCTAssertEqual(try f.runSite().status, 0)
        let before = try f.siteFiles()
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: f.site)
        let beside = try f.besideSite()
        // The third report's SQL names a column that does not exist: the first two are written
        // into the new version before it fails.
        try "SELECT no_such_column FROM expenses".write(toFile: f.configDir + "/yearly-by-category.sql", atomically: true, encoding: .utf8)
        let r = try f.runSite()
        XCTAssertEqual(r.status, 10, "SQL error: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("no_such_column"), r.stderr)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: f.site), link)
        XCTAssertEqual(try f.siteFiles(), before, "the previous site, byte for byte")
        XCTAssertEqual(try f.besideSite(), beside, "the partial build is removed")
    }

    func testStaleStoresPublishNothing() throws {
        let f = try ReportSiteFixture("site-stale")
        try f.writeConfig(try String(contentsOfFile: f.config, encoding: .utf8).replacingOccurrences(of: "max_lag: 1h", with: "max_lag: 1s"))
        sleep(2)
        let r = try f.runSite()
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("staler than --max-lag"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.site))
        XCTAssertEqual(try f.besideSite(), [], "nothing built, nothing locked")
    }

    func testADirectoryThatIsNotTheSiteLinkIsRefused() throws {
        let f = try ReportSiteFixture("site-refuse")
        try FileManager.default.createDirectory(atPath: f.site, withIntermediateDirectories: true)
        try "mine".write(toFile: f.site + "/index.html", atomically: true, encoding: .utf8)
        let r = try f.runSite()
        XCTAssertEqual(r.status, 16, r.stderr)
        XCTAssertTrue(r.stderr.contains("report: already exists: unable to publish the site at \(f.site): it exists and is not the symbolic link"), r.stderr)
        XCTAssertTrue(r.stderr.contains("HINT: move it away"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: f.site + "/index.html", encoding: .utf8), "mine")
        XCTAssertEqual(try f.besideSite(), [".reports.lock", "reports"])
    }

    func testAnOverlappingRunExitsBusyAndTouchesNothing() throws {
        let f = try ReportSiteFixture("site-busy")
        XCTAssertEqual(try f.runSite().status, 0)
        let before = try f.siteFiles(), beside = try f.besideSite()
        let lockPath = f.pipeline.dir.sub("www") + "/.reports.lock"
        let fd = open(lockPath, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0, "the test holds the lock as another run would")
        let r = try f.runSite()
        XCTAssertEqual(r.status, 12, r.stderr)
        XCTAssertTrue(r.stderr.contains("report: busy: unable to publish the site \(f.site): another report site run holds \(lockPath)"), r.stderr)
        XCTAssertEqual(try f.siteFiles(), before)
        XCTAssertEqual(try f.besideSite(), beside)
    }

    func testTheConfigIsReadStrictly() throws {
        let f = try ReportSiteFixture("site-config")
        let sample = try String(contentsOfFile: f.config, encoding: .utf8)
        let cases: [(String, String)] = [
            (sample.replacingOccurrences(of: "    params:\n      currency: EUR\n    formats", with: "    parms:\n      currency: EUR\n    formats"),
             "reports.yml:31: unknown key 'parms' in a report"),
            (sample.replacingOccurrences(of: "max_lag: 1h", with: "max_lag: soon"), "reports.yml:10: 'max_lag' must be a duration"),
            (sample.replacingOccurrences(of: "formats: [html, csv]", with: "formats: [html, parquet]"), "format 'parquet' is not one a site publishes"),
            (sample.replacingOccurrences(of: "name: yearly-by-category", with: "name: monthly-expenses"), "report name 'monthly-expenses' is used twice"),
            (sample.replacingOccurrences(of: "name: yearly-by-category", with: "name: ../up"), "needs a 'name' of lowercase letters"),
        ]
        for (text, message) in cases {
            XCTAssertNotEqual(text, sample, "the case changes the config: \(message)")
            try f.writeConfig(text)
            let r = try f.runSite()
            XCTAssertEqual(r.status, 64, "\(message): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "expected \(message) in \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.site))
        }
        let missing = try ToolRunner.run("report", ["site", f.site, "--config", f.configDir + "/none.yml"])
        XCTAssertEqual(missing.status, 15, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("unable to read the site config \(f.configDir)/none.yml: no such file"), missing.stderr)
    }
}
