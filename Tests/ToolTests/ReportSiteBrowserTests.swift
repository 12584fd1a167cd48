import Foundation
import LogshipTestSupport
import XCTest

/// The published site as Debian's chromium (headless, --no-sandbox as root, tools/test installs
/// it) parses it: the index and every page load through the site link, every link in the DOM
/// resolves to a file of the site, and every table has its header and rows. Slow (a browser
/// start per page): in tools/test's slow list.
final class ReportSiteBrowserTests: XCTestCase {
    func testChromiumLoadsEveryPageAndEveryLinkResolves() throws {
        guard let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("chromium is not installed (tools/test installs it with apt-get install chromium); the site's browser check did not run")
        }
        let f = try ReportSiteFixture("site-browser")
        let r = try f.runSite()
        XCTAssertEqual(r.status, 0, r.stderr)
        let files = try f.siteFiles()
        var pages = ["index.html"]
        pages += ReportSiteFixture.sampleReports.map { $0.name + ".html" }
        for page in pages {
            let dump = try ToolRunner.runSystem(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                                          "--dump-dom", "file://" + f.site + "/" + page])
            XCTAssertEqual(dump.status, 0, "\(page): \(dump.stderr.suffix(800))")
            let dom = dump.stdout
            XCTAssertTrue(dom.contains("</html>"), "\(page): no document: \(dom.prefix(300))")
            let links = ReportSiteFixture.links(dom)
            XCTAssertFalse(links.isEmpty, page)
            for link in links { XCTAssertNotNil(files[link], "\(page) links to \(link), not a file of the site") }
            let tables = dom.components(separatedBy: "<table").dropFirst()
            XCTAssertFalse(tables.isEmpty, "\(page) renders no table")
            for table in tables {
                let body = table.components(separatedBy: "</table>")[0]
                XCTAssertTrue(body.contains("<thead><tr><th"), "\(page): a table without a header")
                XCTAssertGreaterThan(body.components(separatedBy: "<tr>").count - 1, 1, "\(page): a table without rows: \(body.prefix(400))")
            }
            if page == "monthly-expenses.html" { XCTAssertTrue(dom.contains("<svg"), "the dashboard has its charts") }
            if page == "index.html" { XCTAssertEqual(dom.components(separatedBy: "<tr>").count - 1, 1 + pages.count - 1, "a row per report") }
        }
    }
}
