import ArgumentParser
import Foundation
import GRDB
import LogshipCLI
import Reports

/// `report query`: one read-only statement with named parameters.
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run one read-only SQL statement with named parameters (:name), bound, never spliced.",
        discussion: """
            --param name=value binds :name; the value is an integer or a real when it reads as one, text otherwise
            ('quotes' force text). The store is opened read-only and any statement that would write is refused.
            """)

    @OptionGroup var options: ReportOptions
    @OptionGroup var asOf: AsOfOptions
    @Argument(help: "The SQL (or use --file).") var sql: String?
    @Option(name: .long, help: "Read the SQL from this file.") var file: String?
    @Option(name: .customLong("param"), help: "name=value for :name (repeatable).") var params: [String] = []
    @Option(help: "A title for the report.") var title: String = "Query"

    func validate() throws {
        guard (sql == nil) != (file == nil) else { throw ValidationError("give the SQL as an argument or with --file") }
        for p in params where !p.contains("=") { throw ValidationError("--param takes name=value, got \(p)") }
        var seen = Set<String>()
        for p in params {
            let name = String(p.prefix { $0 != "=" }.drop { $0 == ":" })
            guard seen.insert(name).inserted else { throw ValidationError("--param \(name) is given twice") }
        }
    }

    func run() throws {
        try runReporting("report", metricsFile: options.metricsFile) {
            var text = sql ?? ""
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw ReportError(.notFound, "cannot read \(file)") }
                text = String(decoding: data, as: UTF8.self)
            }
            var parameters: [String: DatabaseValue] = [:]
            for p in params {
                let name = String(p.prefix { $0 != "=" })
                parameters[name.hasPrefix(":") ? String(name.dropFirst()) : name] = CustomQuery.parameterValue(String(p.dropFirst(name.count + 1)))
            }
            try options.runReport(asOf, command: "query") { store, writer in
                try CustomQuery.run(store, sql: text, parameters: parameters, title: title, to: writer)
            }
        }
    }
}
