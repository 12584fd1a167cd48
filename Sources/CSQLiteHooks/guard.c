// The master's statement guard: an SQLite authorizer that records what a statement will do
// while it is prepared (transaction control, savepoints, schema changes, pragmas) and refuses
// the actions a replica could not reproduce from the binlog. See CSQLiteHooks.h.
#include <sqlite3.h>
#include <string.h>
#include "CSQLiteHooks.h"

static void copy_name(char *to, size_t size, const char *from) {
    if (!from) { to[0] = 0; return; }
    size_t n = strlen(from);
    if (n >= size) n = size - 1;
    memcpy(to, from, n);
    to[n] = 0;
}

/// Records the first refusal (its reason, subject and value) and denies the action.
static int refuse(lsh_statement_facts *f, int reason, const char *subject, const char *value) {
    if (f->refusal == 0) {
        f->refusal = reason;
        copy_name(f->name, sizeof f->name, subject);
        copy_name(f->detail, sizeof f->detail, value);
    }
    return SQLITE_DENY;
}

/// logship's own tables (`_logship…`, any case): the master's position and bookkeeping.
static int is_internal(const char *table) {
    return table && sqlite3_strnicmp(table, "_logship", 8) == 0;
}

static int is_false(const char *v) {
    return sqlite3_stricmp(v, "0") == 0 || sqlite3_stricmp(v, "off") == 0 || sqlite3_stricmp(v, "false") == 0
        || sqlite3_stricmp(v, "no") == 0;
}

/// Pragmas that may be given a value on a master: none of them changes rows, schema text or
/// the way changes reach the binlog. Introspection pragmas that take an argument are here too.
static const char *const settable_pragmas[] = {
    "analysis_limit", "application_id", "auto_vacuum", "automatic_index", "busy_timeout", "cache_size",
    "cache_spill", "case_sensitive_like", "cell_size_check", "defer_foreign_keys", "foreign_key_check",
    "foreign_key_list", "foreign_keys", "hard_heap_limit", "incremental_vacuum", "index_info", "index_list",
    "index_xinfo", "integrity_check", "journal_size_limit", "max_page_count", "mmap_size", "optimize",
    "page_size", "query_only", "quick_check", "recursive_triggers", "reverse_unordered_selects",
    "secure_delete", "shrink_memory", "soft_heap_limit", "table_info", "table_list", "table_xinfo",
    "temp_store", "threads", "trusted_schema", "user_version", "wal_autocheckpoint", "wal_checkpoint", 0
};

/// True when `PRAGMA name = value` (or `PRAGMA name(value)`) is safe on a master.
static int pragma_allowed(const char *name, const char *value) {
    if (!name || !value) return 1;                        // a read, or a pragma without argument
    for (int i = 0; settable_pragmas[i]; i++) {
        if (sqlite3_stricmp(name, settable_pragmas[i]) == 0) return 1;
    }
    // Allowed only when they keep the master as it is.
    if (sqlite3_stricmp(name, "legacy_alter_table") == 0 || sqlite3_stricmp(name, "writable_schema") == 0
        || sqlite3_stricmp(name, "ignore_check_constraints") == 0) return is_false(value);
    if (sqlite3_stricmp(name, "journal_mode") == 0) return sqlite3_stricmp(value, "wal") == 0;
    // OFF: a power loss could corrupt the database the binlog is redone into.
    if (sqlite3_stricmp(name, "synchronous") == 0) return !is_false(value);
    return 0;
}

static int is_schema_change(int code) {
    return (code >= SQLITE_CREATE_INDEX && code <= SQLITE_CREATE_VIEW)
        || (code >= SQLITE_DROP_INDEX && code <= SQLITE_DROP_VIEW)
        || code == SQLITE_ALTER_TABLE || code == SQLITE_CREATE_VTABLE || code == SQLITE_DROP_VTABLE;
}

static int authorize(void *ctx, int code, const char *a, const char *b, const char *schema, const char *trigger) {
    (void)schema; (void)trigger;
    lsh_statement_facts *f = (lsh_statement_facts *)ctx;
    switch (code) {
    case SQLITE_READ: case SQLITE_SELECT: case SQLITE_FUNCTION: case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_TRANSACTION:
        f->transaction = a && a[0] == 'B' ? LSH_TX_BEGIN : a && a[0] == 'C' ? LSH_TX_END : LSH_TX_ROLLBACK;
        return SQLITE_OK;
    case SQLITE_SAVEPOINT:
        f->savepoint = a && a[0] == 'B' ? LSH_TX_BEGIN : a && a[0] == 'R' && a[1] == 'E' ? LSH_TX_END : LSH_TX_ROLLBACK;
        copy_name(f->name, sizeof f->name, b);
        return SQLITE_OK;
    case SQLITE_INSERT: case SQLITE_UPDATE: case SQLITE_DELETE:
        f->explained = 1;
        if (!f->enforcing) return SQLITE_OK;
        if (is_internal(a)) return refuse(f, LSH_REFUSED_INTERNAL_TABLE, a, 0);
        // SQLite's own maintenance of sqlite_sequence (DROP TABLE, ALTER TABLE … RENAME) comes
        // after the schema change's action and happens on a replica as well.
        if (a && sqlite3_stricmp(a, "sqlite_sequence") == 0 && !f->schema_change)
            return refuse(f, LSH_REFUSED_SEQUENCE, a, 0);
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        f->explained = 1;
        f->outside = 1;
        if (f->enforcing && !pragma_allowed(a, b)) return refuse(f, LSH_REFUSED_PRAGMA, a, b);
        return SQLITE_OK;
    case SQLITE_ATTACH: case SQLITE_DETACH: case SQLITE_ANALYZE: case SQLITE_REINDEX:
        f->explained = 1;
        f->outside = 1;
        return SQLITE_OK;
    case SQLITE_CREATE_VTABLE:
        f->explained = 1;
        f->schema_change = 1;
        if (f->enforcing) return refuse(f, LSH_REFUSED_VIRTUAL_TABLE, a, b);
        return SQLITE_OK;
    default:
        f->explained = 1;
        // SQLite's own tables (sqlite_stat1 made by ANALYZE) are not the user's schema.
        if (is_schema_change(code) && !(a && sqlite3_strnicmp(a, "sqlite_", 7) == 0)) {
            f->schema_change = 1;
            if (code == SQLITE_CREATE_TABLE || code == SQLITE_CREATE_TEMP_TABLE) f->creates = 1;
            // DDL names its object first (a table, index, trigger or view) and the table second;
            // ALTER TABLE names the database first and the table second.
            if (f->enforcing && code != SQLITE_ALTER_TABLE && is_internal(a)) return refuse(f, LSH_REFUSED_INTERNAL_TABLE, a, 0);
            if (f->enforcing && is_internal(b)) return refuse(f, LSH_REFUSED_INTERNAL_TABLE, b, 0);
        }
        return SQLITE_OK;
    }
}

int lsh_guard_install(struct sqlite3 *db, lsh_statement_facts *facts) {
    return sqlite3_set_authorizer(db, facts ? authorize : 0, facts);
}

void lsh_guard_reset(lsh_statement_facts *f, int enforcing) {
    int keep = enforcing;
    memset(f, 0, sizeof *f);
    f->enforcing = keep;
}

int lsh_deferred_foreign_keys(struct sqlite3 *db, int *count) {
    int high = 0;
    *count = 0;
    return sqlite3_db_status(db, SQLITE_DBSTATUS_DEFERRED_FKS, count, &high, 0);
}
