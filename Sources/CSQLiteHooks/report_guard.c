// The report guard: an SQLite authorizer and progress handler for the read-only connections of
// `report`. The authorizer lets statements read tables of the main database and call ordinary
// functions; it denies what reads or writes outside the store (ATTACH, load_extension,
// fts3_tokenizer, the shell's file functions), pragmas other than informational reads, and every
// write. The progress handler interrupts a statement past its deadline. See CSQLiteHooks.h.
#include <sqlite3.h>
#include <string.h>
#include <time.h>
#include "CSQLiteHooks.h"

static void copy_text(char *to, size_t size, const char *from) {
    if (!from) { to[0] = 0; return; }
    size_t n = strlen(from);
    if (n >= size) n = size - 1;
    memcpy(to, from, n);
    to[n] = 0;
}

static int deny(lsh_report_guard *g, int action, const char *what) {
    if (g->denied_action == 0) {
        g->denied_action = action;
        copy_text(g->denied, sizeof g->denied, what);
    }
    return SQLITE_DENY;
}

/// Functions that reach outside the store or into the process: extension loading, FTS3's
/// tokenizer pointers, and the file functions of the sqlite3 shell (should a build link them).
static int is_risky_function(const char *name) {
    static const char *const risky[] = {
        "load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "fsdir", "lsmode",
        "zipfile", "sqlar_compress", "sqlar_uncompress", "shell_add_schema", "shell_escape_crnl", 0
    };
    for (int i = 0; risky[i]; i++) if (name && sqlite3_stricmp(name, risky[i]) == 0) return 1;
    return 0;
}

/// Pragmas that only describe the schema or the file and have no setter: allowed with an
/// argument (`pragma_table_info('t')`: SQLite passes the argument where a setter's value would be).
static int is_describing_pragma(const char *name) {
    static const char *const reads[] = {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "database_list", "collation_list", "function_list", "module_list",
        "pragma_list", "data_version", "page_count", "freelist_count", "compile_options", 0
    };
    for (int i = 0; reads[i]; i++) if (name && sqlite3_stricmp(name, reads[i]) == 0) return 1;
    return 0;
}

/// Pragmas that also have a setter, allowed only in their reading form (no argument).
static int is_readable_setting(const char *name) {
    static const char *const reads[] = {
        "user_version", "application_id", "schema_version", "page_size", "encoding",
        "journal_mode", "query_only", "foreign_keys", "cache_size", 0
    };
    for (int i = 0; reads[i]; i++) if (name && sqlite3_stricmp(name, reads[i]) == 0) return 1;
    return 0;
}

static int authorize(void *context, int action, const char *a, const char *b, const char *schema, const char *trigger) {
    (void)trigger;
    lsh_report_guard *g = context;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_READ:
        // Tables of the main database; a table-valued pragma reads its own virtual table.
        if (schema == 0 || sqlite3_stricmp(schema, "main") == 0) return SQLITE_OK;
        return deny(g, action, schema);
    case SQLITE_FUNCTION:
        return is_risky_function(b) ? deny(g, action, b) : SQLITE_OK;
    case SQLITE_PRAGMA:
        if (is_describing_pragma(a) || (b == 0 && is_readable_setting(a))) return SQLITE_OK;
        return deny(g, action, a);
    case SQLITE_TRANSACTION:
        // The connection's own read transactions (BEGIN DEFERRED … COMMIT around each report).
        return SQLITE_OK;
    case SQLITE_UPDATE:
        // SQLite reports its schema table as updated while it builds table-valued pragmas;
        // the connection is read-only and query_only, so nothing can be written anyway.
        if (a && (sqlite3_stricmp(a, "sqlite_master") == 0 || sqlite3_stricmp(a, "sqlite_temp_master") == 0)) return SQLITE_OK;
        return deny(g, action, a);
    default:
        return deny(g, action, a);
    }
}

static int64_t monotonic_micros(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int progress(void *context) {
    lsh_report_guard *g = context;
    if (g->deadline_micros > 0 && monotonic_micros() > g->deadline_micros) {
        g->timed_out = 1;
        return 1;
    }
    return 0;
}

int lsh_report_guard_install(struct sqlite3 *db, lsh_report_guard *guard) {
    sqlite3_progress_handler(db, guard ? 10000 : 0, guard ? progress : 0, guard);
    return sqlite3_set_authorizer(db, guard ? authorize : 0, guard);
}

void lsh_report_guard_arm(lsh_report_guard *guard, double seconds) {
    guard->timed_out = 0;
    guard->deadline_micros = seconds > 0 ? monotonic_micros() + (int64_t)(seconds * 1e6) : 0;
}

int64_t lsh_report_heap_limit(int64_t bytes) {
    return sqlite3_hard_heap_limit64(bytes);
}
