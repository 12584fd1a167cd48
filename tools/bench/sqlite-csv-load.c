/*
 * The plain-SQLite peer of `binlog-writer load` (issue 15, "Peers a skeptic accepts"): reads
 * the bench's CSV and inserts it through SQLite's C API alone — one prepared INSERT, bind,
 * step, reset, all rows in one transaction — into a database whose table already exists.
 * logship-bench compiles it with `cc -O2 … -lsqlite3` and times it as a whole process, as it
 * times `binlog-writer load` on the same file.
 *
 *   sqlite-csv-load DB TABLE CSV
 *
 * Pragmas as the bench's plain GRDB contender: journal_mode WAL, synchronous NORMAL. CSV as
 * binlog-writer load reads it: RFC 4180 (quoted fields, "" inside quotes, CRLF or LF), a header
 * row naming the columns, an empty unquoted field is NULL, every other field is bound as text
 * (the table's column affinity makes "1250" an INTEGER, as for binlog-writer load).
 * Exit 0 and "loaded N rows" on stdout; any error: its message on stderr, exit 1.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 64

static int fail(sqlite3 *db, const char *what) {
    fprintf(stderr, "sqlite-csv-load: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    return 1;
}

/* One CSV record from `f` into `buf` (fields NUL-terminated in place); -1 at the end of input. */
static int read_record(FILE *f, char **buf, size_t *cap, char *fields[], int quoted[], int *count) {
    size_t len = 0;
    int c, n = 0, in_quotes = 0, field_start = 1;
    *count = 0;
    c = getc(f);
    if (c == EOF) return -1;
    fields[0] = NULL;
    size_t starts[MAX_FIELDS];
    starts[0] = 0;
    quoted[0] = 0;
    for (;; c = getc(f)) {
        if (len + 2 > *cap) {
            *cap = *cap ? *cap * 2 : 4096;
            *buf = realloc(*buf, *cap);
            if (!*buf) return -2;
        }
        if (in_quotes) {
            if (c == EOF) return -3;
            if (c == '"') {
                int d = getc(f);
                if (d == '"') { (*buf)[len++] = '"'; continue; }
                in_quotes = 0;
                c = d;
            } else {
                (*buf)[len++] = (char)c;
                continue;
            }
        }
        if (c == '"' && field_start) { in_quotes = 1; quoted[n] = 1; field_start = 0; continue; }
        field_start = 0;
        if (c == ',' || c == '\n' || c == '\r' || c == EOF) {
            (*buf)[len++] = '\0';
            n++;
            if (c == ',') {
                if (n >= MAX_FIELDS) return -4;
                starts[n] = len;
                quoted[n] = 0;
                field_start = 1;
                continue;
            }
            if (c == '\r') { int d = getc(f); if (d != '\n' && d != EOF) ungetc(d, f); }
            break;
        }
        (*buf)[len++] = (char)c;
    }
    for (int i = 0; i < n; i++) fields[i] = *buf + starts[i];
    *count = n;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: sqlite-csv-load DB TABLE CSV\n"); return 64; }
    FILE *f = fopen(argv[3], "r");
    if (!f) { perror(argv[3]); return 1; }
    sqlite3 *db = NULL;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) return fail(db, "open");
    if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "pragmas");

    char *buf = NULL;
    size_t cap = 0;
    char *fields[MAX_FIELDS];
    int quoted[MAX_FIELDS], columns = 0;
    if (read_record(f, &buf, &cap, fields, quoted, &columns) != 0) { fprintf(stderr, "sqlite-csv-load: no header row\n"); return 1; }
    /* INSERT INTO "table" ("c1", …) VALUES (?, …): names quoted as identifiers. */
    sqlite3_str *sql = sqlite3_str_new(db);
    sqlite3_str_appendf(sql, "INSERT INTO \"%w\" (", argv[2]);
    for (int i = 0; i < columns; i++) sqlite3_str_appendf(sql, "%s\"%w\"", i ? ", " : "", fields[i]);
    sqlite3_str_appendall(sql, ") VALUES (");
    for (int i = 0; i < columns; i++) sqlite3_str_appendall(sql, i ? ", ?" : "?");
    sqlite3_str_appendall(sql, ")");
    char *text = sqlite3_str_finish(sql);
    sqlite3_stmt *insert = NULL;
    if (!text || sqlite3_prepare_v2(db, text, -1, &insert, NULL) != SQLITE_OK) return fail(db, "prepare");
    sqlite3_free(text);

    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "begin");
    long rows = 0;
    int count, r;
    while ((r = read_record(f, &buf, &cap, fields, quoted, &count)) == 0) {
        if (count == 1 && fields[0][0] == '\0' && !quoted[0]) continue;   /* a blank line */
        if (count != columns) {
            fprintf(stderr, "sqlite-csv-load: row %ld has %d fields, the header %d\n", rows + 1, count, columns);
            return 1;
        }
        for (int i = 0; i < count; i++) {
            int rc = (fields[i][0] == '\0' && !quoted[i]) ? sqlite3_bind_null(insert, i + 1)
                                                           : sqlite3_bind_text(insert, i + 1, fields[i], -1, SQLITE_STATIC);
            if (rc != SQLITE_OK) return fail(db, "bind");
        }
        if (sqlite3_step(insert) != SQLITE_DONE) return fail(db, "insert");
        if (sqlite3_reset(insert) != SQLITE_OK) return fail(db, "reset");
        rows++;
    }
    if (r != -1) { fprintf(stderr, "sqlite-csv-load: bad CSV after row %ld (%d)\n", rows, r); return 1; }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return fail(db, "commit");
    if (sqlite3_finalize(insert) != SQLITE_OK) return fail(db, "finalize");
    if (sqlite3_close(db) != SQLITE_OK) return fail(db, "close");
    free(buf);
    fclose(f);
    printf("loaded %ld rows\n", rows);
    return 0;
}
