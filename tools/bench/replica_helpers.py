#!/usr/bin/env python3
"""Helpers for tools/bench/replica: workload files and the plain-SQLite contender.

    replica_helpers.py mixed --csv rows.csv --ops 200000 --seed 42 > mixed.sql
        200,000 single-row statements (50 % UPDATE, 25 % INSERT, 25 % DELETE) on rows that exist
        at that point, so every statement changes exactly one row; valid SQLite and MariaDB SQL.
    replica_helpers.py mariadb-load --csv rows.csv > load.sql
        the CSV as multi-row INSERTs of 1,000 rows (one autocommit transaction each), like
        `binlog-writer load --batch 1000`.
    replica_helpers.py small --count 1000000 --seed 7 > small.sql
        many one-row transactions (70 % INSERT, 30 % UPDATE) on a table `events`.
    replica_helpers.py sqlite-insert --csv rows.csv --db plain.db
        plain SQLite (python's sqlite3 module, the system libsqlite3): WAL, synchronous=FULL as in
        a replica store, the same schema and index, the rows read into memory first, then
        executemany of a prepared INSERT in one transaction per 1,000 rows (--per-transaction). Prints
        "rows=N seconds=S rows_per_s=R" for the timed database work only.
    replica_helpers.py sqlite-exec --sql mixed.sql --db plain.db --per-transaction 1000
        the same statements, 1,000 per transaction (a replica's default batch); prints the same line.
"""
import argparse
import csv
import random
import sqlite3
import sys
import time



def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            # binlog-writer load reads an empty field as NULL; so do the other contenders.
            yield [None if v == "" else v for v in r]


def quote(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def row_values(r):
    return "(" + ", ".join([r[0], quote(r[1]), quote(r[2]), quote(r[3]), r[4], quote(r[5]), quote(r[6])]) + ")"


def mixed(args):
    rng = random.Random(args.seed)
    live = [int(r[0]) for r in read_rows(args.csv)]
    next_id = max(live) + 1
    categories = ["groceries", "travel", "office", "restaurants", "software"]
    out = sys.stdout
    for i in range(args.ops):
        roll = rng.random()
        if roll < 0.5:
            k = live[rng.randrange(len(live))]
            out.write(f"UPDATE expenses SET amount_cents = amount_cents + {rng.randint(1, 500)}, note = 'checked {i}' WHERE id = {k};\n")
        elif roll < 0.75:
            day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            out.write("INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES "
                      f"({next_id}, '{day}', '{rng.choice(categories)}', 'Bäckerei Müller', {rng.randint(100, 90000)}, 'EUR', 'new {i}');\n")
            live.append(next_id)
            next_id += 1
        else:
            j = rng.randrange(len(live))
            live[j], live[-1] = live[-1], live[j]
            out.write(f"DELETE FROM expenses WHERE id = {live.pop()};\n")


def mariadb_load(args):
    out = sys.stdout
    batch = []
    for r in read_rows(args.csv):
        batch.append(row_values(r))
        if len(batch) == 1000:
            out.write("INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES " + ", ".join(batch) + ";\n")
            batch = []
    if batch:
        out.write("INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES " + ", ".join(batch) + ";\n")


def small(args):
    rng = random.Random(args.seed)
    out = sys.stdout
    n = 0
    for i in range(args.count):
        if n < 100 or rng.random() < 0.7:
            n += 1
            out.write(f"INSERT INTO events (id, kind, amount, note) VALUES ({n}, 'k{rng.randrange(20)}', {rng.randrange(100000)}, 'e{i}');\n")
        else:
            out.write(f"UPDATE events SET amount = amount + 1, note = 'u{i}' WHERE id = {rng.randint(1, n)};\n")


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def sqlite_insert(args):
    rows = [(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6]) for r in read_rows(args.csv)]
    db = connect(args.db)
    db.executescript(open(args.schema).read())
    sql = "INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES (?, ?, ?, ?, ?, ?, ?)"
    n = args.per_transaction
    start = time.perf_counter()
    for i in range(0, len(rows), n):
        db.execute("BEGIN")
        db.executemany(sql, rows[i:i + n])
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    print(f"rows={len(rows)} seconds={seconds:.3f} rows_per_s={len(rows) / seconds:.0f}")


def sqlite_exec(args):
    statements = [s for s in open(args.sql, encoding="utf-8").read().split(";\n") if s.strip()]
    db = connect(args.db)
    start = time.perf_counter()
    for i in range(0, len(statements), args.per_transaction):
        db.execute("BEGIN")
        for s in statements[i:i + args.per_transaction]:
            db.execute(s)
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    print(f"rows={len(statements)} seconds={seconds:.3f} rows_per_s={len(statements) / seconds:.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mixed"); m.add_argument("--csv", required=True); m.add_argument("--ops", type=int, default=200000); m.add_argument("--seed", type=int, default=42)
    l = sub.add_parser("mariadb-load"); l.add_argument("--csv", required=True)
    s = sub.add_parser("small"); s.add_argument("--count", type=int, default=1000000); s.add_argument("--seed", type=int, default=7)
    i = sub.add_parser("sqlite-insert"); i.add_argument("--csv", required=True); i.add_argument("--db", required=True); i.add_argument("--schema", required=True)
    i.add_argument("--per-transaction", type=int, default=1000)
    e = sub.add_parser("sqlite-exec"); e.add_argument("--sql", required=True); e.add_argument("--db", required=True); e.add_argument("--per-transaction", type=int, default=1000)
    args = p.parse_args()
    {"mixed": mixed, "mariadb-load": mariadb_load, "small": small, "sqlite-insert": sqlite_insert, "sqlite-exec": sqlite_exec}[args.command](args)


if __name__ == "__main__":
    main()
