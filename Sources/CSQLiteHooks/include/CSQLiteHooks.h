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

#endif
