import Foundation
import Parquet

/// The Python side of the oracle tests: read a file with pyarrow and with DuckDB and print
/// every cell as a token (`i:` integer, `d:` the double's little-endian bytes in hex, `b:`
/// boolean, `x:` the bytes in hex, null for NULL), so both readers compare exactly.
enum OracleScripts {
    static let tokens = """
        import sys, json, struct, datetime
        EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        def tok(v):
            if v is None: return None
            if isinstance(v, bool): return "b:1" if v else "b:0"
            if isinstance(v, int): return "i:%d" % v
            if isinstance(v, float): return "d:" + struct.pack("<d", v).hex()
            if isinstance(v, (bytes, bytearray, memoryview)): return "x:" + bytes(v).hex()
            if isinstance(v, str): return "x:" + v.encode("utf-8").hex()
            if isinstance(v, datetime.datetime):
                d = v - (EPOCH if v.tzinfo else EPOCH.replace(tzinfo=None))
                return "i:%d" % ((d.days * 86400 + d.seconds) * 1000000 + d.microseconds)
            if isinstance(v, datetime.date): return "i:%d" % (v - datetime.date(1970, 1, 1)).days
            raise Exception("unexpected %r" % (v,))
        """

    /// argv: path. Prints pyarrow's and DuckDB's cells, types, row groups, statistics, encodings.
    static let readBoth = tokens + "\n" + """
        import pyarrow.parquet as pq, duckdb
        path = sys.argv[1]
        t = pq.read_table(path)
        out = {"pyarrow": [[tok(v) for v in t.column(i).to_pylist()] for i in range(t.num_columns)],
               "pyarrowTypes": [str(f.type) for f in t.schema],
               "nullable": [f.nullable for f in t.schema]}
        md = pq.ParquetFile(path).metadata
        out["rowGroups"] = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        stats, enc, codecs = [], [], []
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(g).column(c)
                s = col.statistics
                stats.append([s.null_count, tok(s.min) if s.has_min_max else None, tok(s.max) if s.has_min_max else None])
                enc.append(sorted(col.encodings))
                codecs.append(col.compression)
        out["stats"], out["encodings"], out["codecs"] = stats, enc, sorted(set(codecs))
        con = duckdb.connect()
        desc = con.execute("DESCRIBE SELECT * FROM read_parquet($1)", [path]).fetchall()
        out["duckdbTypes"] = [d[1] for d in desc]
        def expr(name, typ):
            q = '"' + name.replace('"', '""') + '"'
            if typ.startswith("TIMESTAMP"): return "epoch_us(" + q + ")"
            if typ == "DATE": return "datediff('day', DATE '1970-01-01', " + q + ")"
            return q
        sel = ", ".join(expr(d[0], d[1]) for d in desc)
        rows = con.execute("SELECT " + sel + " FROM read_parquet($1)", [path]).fetchall()
        out["duckdb"] = [[tok(r[i]) for r in rows] for i in range(len(desc))]
        print(json.dumps(out))
        """
}

extension ParquetValue {
    /// The token the oracle scripts print for this value.
    var token: Any {
        switch self {
        case .null: return NSNull()
        case .int64(let v): return "i:\(v)"
        case .int32(let v): return "i:\(v)"
        case .boolean(let b): return b ? "b:1" : "b:0"
        case .double(let d): return "d:" + hex((0..<8).map { UInt8(truncatingIfNeeded: d.bitPattern >> (8 * UInt64($0))) })
        case .bytes(let b): return "x:" + hex(b)
        }
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
