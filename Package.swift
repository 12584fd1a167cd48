// swift-tools-version:6.0
import PackageDescription

// logship: binlog shipping, backup and offline analytics for an embedded SQLite master.
// Linux only: the code calls flock, fsync of directories, link(2) and /proc (Glibc); macOS is not
// built or tested. Module graph (docs/ARCHITECTURE.md has what each owns):
//   LogshipSystem (leaf: Foundation): the binlog clock, timestamp text and parsing, crash points, the error
//                protocol and exit codes, OS helpers (file descriptors, regular files, durable publication,
//                directory locks, file modes) and their SystemError
//   BinlogFormat (LogshipSystem, liblz4, libxxhash, swift-crypto): the segment format and its signatures only; re-exports LogshipSystem
//   BinlogApply  (BinlogFormat + GRDB): the one apply engine (master recovery and replicas)
//   BinlogMaster (BinlogApply + SQLite hooks): capture, exec, load, rotate
//   BinlogShip   (BinlogFormat + ObjectStorage + Yams, no SQLite): shipping segments to targets
//   ObjectStorage (swift-crypto, Foundation, libcurl through CCurl): an S3-compatible client (SigV4, retries, multipart)
//   ReplicaStore (BinlogApply): replica directory, apply loop, snapshots, restore, status
//   Failover     (ReplicaStore + BinlogMaster): candidates, promotion, fences
//   ExpenseSummary (ReplicaStore): the monthly expense summary, an observer of replica apply
//   Reports      (ReplicaStore, ExpenseSummary, Parquet): read-only reports on a store, Parquet export
//   Parquet      (leaf: Foundation, libsnappy): a minimal Parquet file writer
//   LogshipCLI   (BinlogFormat + ArgumentParser + Yams + swift-log): failure reporting, durations, dump rendering, the /metrics endpoint,
//                --version, logship.yml and LOGSHIP_* variables, --log-level
//   BuildInfo    (+ the BuildStamp plugin, Plugins/): the git commit of the build
//   LogshipTestSupport (Tests/Support): what the tests share
//   executables: binlog-writer, binlog-ship, replica-apply, report; logship-bench (tools/bench)
let package = Package(
    name: "logship",
    products: [
        .library(name: "BinlogFormat", targets: ["BinlogFormat"]),
        .library(name: "BinlogMaster", targets: ["BinlogMaster"]),
        .library(name: "BinlogShip", targets: ["BinlogShip"]),
        .library(name: "ReplicaStore", targets: ["ReplicaStore"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "Failover", targets: ["Failover"]),
        .library(name: "Parquet", targets: ["Parquet"]),
        .executable(name: "binlog-writer", targets: ["binlog-writer"]),
        .executable(name: "binlog-ship", targets: ["binlog-ship"]),
        .executable(name: "replica-apply", targets: ["replica-apply"]),
        .executable(name: "report", targets: ["report"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CLZ4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CXXHash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .target(name: "CSQLiteHooks", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .plugin(name: "BuildStamp", capability: .buildTool(), path: "Plugins/BuildStamp"),
        .target(name: "BuildInfo", plugins: ["BuildStamp"]),
        .target(name: "LogshipSystem"),
        .target(name: "BinlogFormat", dependencies: ["LogshipSystem", "CLZ4", "CXXHash", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "BinlogApply", dependencies: [
            "BinlogFormat", "LogshipSystem", "CSQLiteHooks",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "BinlogMaster", dependencies: [
            "BinlogFormat", "BinlogApply", "LogshipSystem", "CSQLiteHooks",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "BinlogShip", dependencies: [
            "BinlogFormat", "LogshipSystem", "ObjectStorage", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "ObjectStorage", dependencies: ["CCurl", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "ReplicaStore", dependencies: [
            "BinlogFormat", "BinlogApply", "LogshipSystem",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "Failover", dependencies: [
            "ReplicaStore", "BinlogMaster", "BinlogApply", "BinlogFormat", "LogshipSystem", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "Parquet", dependencies: ["CSnappy"]),
        .target(name: "ExpenseSummary", dependencies: [
            "BinlogFormat", "BinlogApply", "ReplicaStore", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "Reports", dependencies: [
            "BinlogFormat", "BinlogApply", "ReplicaStore", "ExpenseSummary", "CSQLiteHooks", "Parquet", "LogshipSystem",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "LogshipCLI", dependencies: [
            "BinlogFormat", "BuildInfo", "LogshipSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "binlog-writer", dependencies: [
            "BinlogMaster", "BinlogFormat", "LogshipCLI", "LogshipSystem",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "binlog-ship", dependencies: [
            "BinlogShip", "BinlogFormat", "LogshipCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "replica-apply", dependencies: [
            "ReplicaStore", "ExpenseSummary", "Failover", "BinlogFormat", "LogshipCLI", "LogshipSystem", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            "BinlogShip",
        ]),
        .executableTarget(name: "report", dependencies: [
            "Reports", "Parquet", "ReplicaStore", "BinlogFormat", "LogshipCLI", "LogshipSystem", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "logship-bench", dependencies: [
            "BinlogMaster", "BinlogFormat", "ReplicaStore", "ExpenseSummary", "LogshipCLI",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "tools/bench/Sources"),
        .target(name: "LogshipTestSupport", dependencies: [
            "BinlogFormat", "BinlogApply", "LogshipSystem", "ObjectStorage", .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Tests/Support"),
        .testTarget(name: "BinlogFormatTests", dependencies: ["BinlogFormat", "LogshipSystem", .product(name: "Crypto", package: "swift-crypto")], exclude: ["Fixtures"]),
        .testTarget(name: "BinlogMasterTests", dependencies: [
            "BinlogMaster", "BinlogApply", "BinlogFormat", "BinlogShip", "LogshipSystem", "LogshipTestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "BinlogShipTests", dependencies: ["BinlogShip", "BinlogFormat", "LogshipSystem", "ObjectStorage", "LogshipTestSupport"]),
        .testTarget(name: "ObjectStorageTests", dependencies: [
            "ObjectStorage", "CCurl", "LogshipTestSupport", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "ReplicaTests", dependencies: ["ReplicaStore", "BinlogApply", "BinlogFormat", "LogshipSystem", "LogshipTestSupport",
            .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ReportTests", dependencies: ["Reports", "ExpenseSummary", "BinlogApply", "BinlogFormat", "LogshipSystem", "LogshipTestSupport",
            .product(name: "GRDB", package: "GRDB.swift")], exclude: ["Fixtures"]),
        .testTarget(name: "ErrorTests", dependencies: [
            "BinlogFormat", "LogshipSystem", "BinlogApply", "BinlogMaster", "BinlogShip", "ReplicaStore", "Failover", "Reports",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "ParquetTests", dependencies: ["Parquet", "LogshipTestSupport"]),
        .testTarget(name: "ToolTests", dependencies: ["BinlogFormat", "BinlogApply", "BinlogMaster", "LogshipSystem", "ObjectStorage", "LogshipTestSupport",
            "LogshipCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Yams", package: "Yams")]),
    ],
    swiftLanguageModes: [.v6]
)
