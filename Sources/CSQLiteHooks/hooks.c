#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include "CSQLiteHooks.h"

typedef void (*sqlite_preupdate_fn)(void *, sqlite3 *, int, const char *, const char *,
                                   sqlite3_int64, sqlite3_int64);

void lsh_preupdate_hook(struct sqlite3 *db, lsh_preupdate_callback cb, void *ctx) {
    // int64_t and sqlite3_int64 are both 64-bit signed integers: the signatures agree.
    sqlite3_preupdate_hook(db, (sqlite_preupdate_fn)cb, ctx);
}

int lsh_preupdate_count(struct sqlite3 *db) { return sqlite3_preupdate_count(db); }
int lsh_preupdate_depth(struct sqlite3 *db) { return sqlite3_preupdate_depth(db); }
int lsh_preupdate_old(struct sqlite3 *db, int i, struct sqlite3_value **out) {
    return sqlite3_preupdate_old(db, i, out);
}
int lsh_preupdate_new(struct sqlite3 *db, int i, struct sqlite3_value **out) {
    return sqlite3_preupdate_new(db, i, out);
}

int lsh_enable_triggers(struct sqlite3 *db, int on) {
    int result = -1;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, on, &result);
    if (rc != SQLITE_OK) return -1;
    return result;
}

int lsh_value_type(struct sqlite3_value *v) { return sqlite3_value_type(v); }
int64_t lsh_value_int64(struct sqlite3_value *v) { return sqlite3_value_int64(v); }
double lsh_value_double(struct sqlite3_value *v) { return sqlite3_value_double(v); }
const void *lsh_value_blob(struct sqlite3_value *v) { return sqlite3_value_blob(v); }
const unsigned char *lsh_value_text(struct sqlite3_value *v) { return sqlite3_value_text(v); }
int lsh_value_bytes(struct sqlite3_value *v) { return sqlite3_value_bytes(v); }

int lsh_bind_text_bytes(void *stmt, int index, const void *bytes, int length) {
    return sqlite3_bind_text((sqlite3_stmt *)stmt, index, (const char *)(bytes ? bytes : ""),
                             length, SQLITE_TRANSIENT);
}
int lsh_bind_blob_bytes(void *stmt, int index, const void *bytes, int length) {
    return sqlite3_bind_blob((sqlite3_stmt *)stmt, index, bytes ? bytes : "", length,
                             SQLITE_TRANSIENT);
}

const char *lsh_libversion(void) { return sqlite3_libversion(); }
