// Thin C wrappers over SQLite APIs that Swift cannot reach through GRDB's module:
// the pre-update hook (declared only when SQLITE_ENABLE_PREUPDATE_HOOK is defined,
// which Debian's libsqlite3 is built with) and the variadic sqlite3_db_config.
// Handles are passed as opaque pointers so this header does not include sqlite3.h
// a second time under different macros.
#ifndef CSQLITEHOOKS_H
#define CSQLITEHOOKS_H

#include <stdint.h>

struct sqlite3;
struct sqlite3_value;

/// Operation codes passed to the pre-update callback (SQLite's SQLITE_INSERT etc.).
enum { LSH_OP_DELETE = 9, LSH_OP_INSERT = 18, LSH_OP_UPDATE = 23 };

typedef void (*lsh_preupdate_callback)(void *ctx, struct sqlite3 *db, int op, const char *zDb,
                                       const char *zTable, int64_t oldRowid, int64_t newRowid);

/// Installs (or, with a NULL callback, removes) the pre-update hook.
void lsh_preupdate_hook(struct sqlite3 *db, lsh_preupdate_callback cb, void *ctx);
int lsh_preupdate_count(struct sqlite3 *db);
int lsh_preupdate_depth(struct sqlite3 *db);
/// Returns SQLITE_OK and the value, or an SQLite error code.
int lsh_preupdate_old(struct sqlite3 *db, int column, struct sqlite3_value **out);
int lsh_preupdate_new(struct sqlite3 *db, int column, struct sqlite3_value **out);

/// sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, on, &result).
int lsh_enable_triggers(struct sqlite3 *db, int on);

int lsh_value_type(struct sqlite3_value *v);
int64_t lsh_value_int64(struct sqlite3_value *v);
double lsh_value_double(struct sqlite3_value *v);
const void *lsh_value_blob(struct sqlite3_value *v);
const unsigned char *lsh_value_text(struct sqlite3_value *v);
int lsh_value_bytes(struct sqlite3_value *v);

/// Binds raw bytes as TEXT (no UTF-8 repair, exact fidelity); SQLITE_TRANSIENT copy.
int lsh_bind_text_bytes(void *stmt, int index, const void *bytes, int length);
int lsh_bind_blob_bytes(void *stmt, int index, const void *bytes, int length);

const char *lsh_libversion(void);

// MARK: the master's statement guard (guard.c)

/// What a statement's transaction-control action is (SQLITE_TRANSACTION, SQLITE_SAVEPOINT):
/// BEGIN (or SAVEPOINT), COMMIT (or RELEASE), ROLLBACK (or ROLLBACK TO).
enum { LSH_TX_BEGIN = 1, LSH_TX_END = 2, LSH_TX_ROLLBACK = 3 };

/// Why the guard refused a statement.
enum {
    LSH_REFUSED_VIRTUAL_TABLE = 1,  ///< CREATE VIRTUAL TABLE (name: table, detail: module)
    LSH_REFUSED_INTERNAL_TABLE = 2, ///< a write or DDL on a `_logship…` table (name: table)
    LSH_REFUSED_SEQUENCE = 3,       ///< a write to sqlite_sequence outside a schema change
    LSH_REFUSED_PRAGMA = 4          ///< a pragma setting that is not safe (name, detail: value)
};

/// What the authorizer saw while one statement was prepared. The master resets it before
/// preparing each of its user's statements, with `enforcing` set; its own statements are
/// prepared with `enforcing` clear and are only recorded.
typedef struct lsh_statement_facts {
    int enforcing;
    /// LSH_REFUSED_* of the first refused action, 0 when nothing was refused.
    int refusal;
    /// LSH_TX_* of a BEGIN, COMMIT or ROLLBACK statement, else 0.
    int transaction;
    /// LSH_TX_* of a SAVEPOINT, RELEASE or ROLLBACK TO statement, else 0 (name: the savepoint).
    int savepoint;
    /// A CREATE, DROP or ALTER action (of any schema) on an object not named sqlite_….
    int schema_change;
    /// CREATE TABLE (or CREATE TEMP TABLE).
    int creates;
    /// PRAGMA, ATTACH, DETACH, ANALYZE or REINDEX: run without opening a transaction.
    int outside;
    /// An action that explains a write (anything but reads, functions and transaction control):
    /// a statement that writes without one is VACUUM.
    int explained;
    char name[256];
    char detail[128];
} lsh_statement_facts;

/// Installs the guard as the connection's authorizer (NULL removes it). Returns an SQLite code.
int lsh_guard_install(struct sqlite3 *db, lsh_statement_facts *facts);
/// Clears the facts before the next statement is prepared.
void lsh_guard_reset(lsh_statement_facts *facts, int enforcing);
/// sqlite3_db_status(SQLITE_DBSTATUS_DEFERRED_FKS): deferred foreign-key violations outstanding.
int lsh_deferred_foreign_keys(struct sqlite3 *db, int *count);

/// The report guard (report_guard.c): what the authorizer denied first, and the deadline the
/// progress handler enforces.
typedef struct lsh_report_guard {
    /// The SQLite authorizer action code of the first denied action, 0 when none was.
    int denied_action;
    /// Its subject: a function, pragma, table or schema name.
    char denied[256];
    /// CLOCK_MONOTONIC microseconds after which a running statement is interrupted; 0 for none.
    int64_t deadline_micros;
    /// Set when the progress handler interrupted a statement.
    int timed_out;
} lsh_report_guard;

/// Installs the report guard's authorizer and progress handler (NULL removes both).
int lsh_report_guard_install(struct sqlite3 *db, lsh_report_guard *guard);
/// Starts the deadline: statements are interrupted `seconds` from now (0: never).
void lsh_report_guard_arm(lsh_report_guard *guard, double seconds);
/// sqlite3_hard_heap_limit64: caps the memory SQLite allocates in this process; returns the
/// previous limit.
int64_t lsh_report_heap_limit(int64_t bytes);

#endif
