/*
 * powerloss.c: an LD_PRELOAD shim that records, for files under one directory, everything a
 * power loss could take back: each write's old bytes, size changes, file creations, renames and
 * unlinks, and the fsyncs that make them durable. After the process is killed, the test harness
 * (Tests/Support/PowerLoss.swift) reads the log and undoes, in reverse order, every change that
 * no fsync made durable. docs/RELIABILITY.md ("Lost unsynced writes") says what the model covers.
 *
 *   cc -shared -fPIC -O2 -o powerloss.so tools/faults/powerloss.c -ldl
 *   LD_PRELOAD=./powerloss.so LOGSHIP_POWERLOSS_ROOT=/srv/master LOGSHIP_POWERLOSS_LOG=/tmp/pl binlog-writer exec ...
 *
 * LOGSHIP_POWERLOSS_LOG is a directory (same file system as the root): the log is its file
 * "log", hard links that keep replaced and unlinked files are "keep-<pid>-<n>". Every record is
 * one write(2) with O_APPEND, so records of several processes interleave whole, in the order the
 * kernel applied them. Records (text header line, then the payload bytes it announces):
 *
 *   W <ino> <offset> <length> <size before> <old length>\n<old bytes>   a write (logged before it)
 *   T <ino> <size before> <new size> <old length>\n<old bytes>          a size change (before it)
 *   S <ino>\n                       fsync or fdatasync of a file: its earlier changes are durable
 *   D <directory>\n                 fsync of a directory: its earlier entry changes are durable
 *   C <path>\n                      a new name: open(O_CREAT) of a new file, or link (logged after it)
 *   R <old> <new> <kept or ->\n     a rename; kept holds the file it replaced (after it)
 *   U <path> <kept>\n               an unlink; kept holds the file (after it)
 *
 * Not intercepted (documented as outside the model): writes through mmap, splice, mkdir/rmdir,
 * symlink, sync/syncfs/msync/sync_file_range (treated as syncing nothing), O_DIRECT.
 * copy_file_range and sendfile count as writes to their output.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static ssize_t (*real_copy_file_range)(int, off_t *, int, off_t *, size_t, unsigned int);
static ssize_t (*real_sendfile)(int, int, off_t *, size_t);
static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);

static char root[PATH_MAX];
static size_t root_len;
static char logdir[PATH_MAX];
static int log_fd = -1;
static unsigned long kept_counter;

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

__attribute__((constructor)) static void powerloss_init(void) {
    RESOLVE(write); RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(writev); RESOLVE(pwritev);
    RESOLVE(ftruncate); RESOLVE(ftruncate64); RESOLVE(fallocate); RESOLVE(posix_fallocate);
    RESOLVE(fsync); RESOLVE(fdatasync); RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64);
    RESOLVE(rename); RESOLVE(renameat); RESOLVE(renameat2); RESOLVE(unlink); RESOLVE(unlinkat);
    RESOLVE(copy_file_range); RESOLVE(sendfile); RESOLVE(link); RESOLVE(linkat);
    const char *r = getenv("LOGSHIP_POWERLOSS_ROOT"), *l = getenv("LOGSHIP_POWERLOSS_LOG");
    if (!r || !l || !realpath(r, root) || strlen(l) >= sizeof logdir - 16) return;
    root_len = strlen(root);
    strcpy(logdir, l);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/log", logdir);
    log_fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) { fprintf(stderr, "powerloss shim: cannot open %s\n", path); abort(); }
}

/* Appends one record (header + payload) with a single write(2); a failure aborts: a log with a
 * hole would make the undo wrong. */
static void record(const char *header, const void *payload, size_t n) {
    size_t h = strlen(header);
    char *buf = malloc(h + n);
    if (!buf) abort();
    memcpy(buf, header, h);
    if (n) memcpy(buf + h, payload, n);
    ssize_t w = real_write(log_fd, buf, h + n);
    free(buf);
    if (w != (ssize_t)(h + n)) { fprintf(stderr, "powerloss shim: log write failed\n"); abort(); }
}

static int under_root(const char *path) {
    return root_len && strncmp(path, root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == 0);
}

/* The path of an open descriptor, when it is a regular file (or, with dirs, a directory) under the root. */
static int tracked_fd(int fd, struct stat *st, char *path, int dirs) {
    if (log_fd < 0 || fd == log_fd || fstat(fd, st) != 0) return 0;
    if (!S_ISREG(st->st_mode) && !(dirs && S_ISDIR(st->st_mode))) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, PATH_MAX - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return under_root(path);
}

/* An absolute form of `path` relative to `dirfd` (AT_FDCWD or a directory descriptor). */
static void absolute(int dirfd, const char *path, char *out) {
    if (path[0] == '/') { snprintf(out, PATH_MAX, "%s", path); return; }
    char base[PATH_MAX] = "";
    if (dirfd == AT_FDCWD) { if (!getcwd(base, sizeof base)) base[0] = 0; }
    else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        base[n > 0 ? n : 0] = 0;
    }
    snprintf(out, PATH_MAX, "%s/%s", base, path);
}

/* Reads the bytes [offset, offset+n) that a change is about to overwrite (clipped to the size). */
static size_t old_bytes(int fd, off_t offset, size_t n, off_t size, char **out) {
    *out = NULL;
    if (offset >= size) return 0;
    if ((off_t)n > size - offset) n = (size_t)(size - offset);
    char *buf = malloc(n ? n : 1);
    if (!buf) abort();
    int rfd = fd, opened = 0;
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        rfd = real_open(link, O_RDONLY | O_CLOEXEC);
        opened = 1;
        if (rfd < 0) abort();
    }
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(rfd, buf + done, n - done, offset + (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) abort();
        done += (size_t)r;
    }
    if (opened) close(rfd);
    *out = buf;
    return n;
}

static void note_write(int fd, off_t offset, size_t length, int append) {
    struct stat st;
    char path[PATH_MAX];
    int saved = errno;
    if (!tracked_fd(fd, &st, path, 0)) { errno = saved; return; }
    if (offset < 0) offset = append ? st.st_size : lseek(fd, 0, SEEK_CUR);
    char *old;
    size_t n = old_bytes(fd, offset, length, st.st_size, &old);
    char header[160];
    snprintf(header, sizeof header, "W %lu %lld %zu %lld %zu\n", (unsigned long)st.st_ino, (long long)offset, length, (long long)st.st_size, n);
    record(header, old, n);
    free(old);
    /* O_SYNC / O_DSYNC: the write is durable when it returns. */
    if (fcntl(fd, F_GETFL) & (O_SYNC | O_DSYNC)) {
        snprintf(header, sizeof header, "S %lu\n", (unsigned long)st.st_ino);
        record(header, NULL, 0);
    }
    errno = saved;
}

static void note_size(int fd, off_t new_size) {
    struct stat st;
    char path[PATH_MAX];
    int saved = errno;
    if (!tracked_fd(fd, &st, path, 0) || new_size == st.st_size) { errno = saved; return; }
    char *old = NULL;
    size_t n = new_size < st.st_size ? old_bytes(fd, new_size, (size_t)(st.st_size - new_size), st.st_size, &old) : 0;
    char header[160];
    snprintf(header, sizeof header, "T %lu %lld %lld %zu\n", (unsigned long)st.st_ino, (long long)st.st_size, (long long)new_size, n);
    record(header, old, n);
    free(old);
    errno = saved;
}

static void note_sync(int fd) {
    struct stat st;
    char path[PATH_MAX], header[PATH_MAX + 32];
    int saved = errno;
    if (!tracked_fd(fd, &st, path, 1)) { errno = saved; return; }
    if (S_ISDIR(st.st_mode)) snprintf(header, sizeof header, "D %s\n", path);
    else snprintf(header, sizeof header, "S %lu\n", (unsigned long)st.st_ino);
    record(header, NULL, 0);
    errno = saved;
}

/* Hard-links `path` into the log directory so that an undo can bring it back; "-" when absent. */
static void keep(const char *path, char *kept) {
    struct stat st;
    strcpy(kept, "-");
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
    snprintf(kept, PATH_MAX, "%s/keep-%d-%lu", logdir, (int)getpid(), __atomic_add_fetch(&kept_counter, 1, __ATOMIC_SEQ_CST));
    if (real_link(path, kept) != 0) { fprintf(stderr, "powerloss shim: cannot keep %s: %s\n", path, strerror(errno)); abort(); }
}

ssize_t write(int fd, const void *b, size_t n) {
    if (fd > 2) note_write(fd, -1, n, fcntl(fd, F_GETFL) & O_APPEND);
    return real_write(fd, b, n);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { note_write(fd, o, n, 0); return real_pwrite(fd, b, n, o); }
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o) { note_write(fd, o, n, 0); return real_pwrite64(fd, b, n, o); }
static size_t iov_length(const struct iovec *v, int c) { size_t n = 0; for (int i = 0; i < c; i++) n += v[i].iov_len; return n; }
ssize_t writev(int fd, const struct iovec *v, int c) {
    if (fd > 2) note_write(fd, -1, iov_length(v, c), fcntl(fd, F_GETFL) & O_APPEND);
    return real_writev(fd, v, c);
}
ssize_t pwritev(int fd, const struct iovec *v, int c, off_t o) { note_write(fd, o, iov_length(v, c), 0); return real_pwritev(fd, v, c, o); }
/* Kernel copies write into `out` like a write of `len` bytes at its offset. */
ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len, unsigned int flags) {
    note_write(out, out_off ? *out_off : -1, len, fcntl(out, F_GETFL) & O_APPEND);
    return real_copy_file_range(in, in_off, out, out_off, len, flags);
}
ssize_t sendfile(int out, int in, off_t *offset, size_t count) {
    note_write(out, -1, count, fcntl(out, F_GETFL) & O_APPEND);
    return real_sendfile(out, in, offset, count);
}
int ftruncate(int fd, off_t n) { note_size(fd, n); return real_ftruncate(fd, n); }
int ftruncate64(int fd, off_t n) { note_size(fd, n); return real_ftruncate64(fd, n); }
int fallocate(int fd, int mode, off_t o, off_t n) {
    struct stat st;
    if (!(mode & FALLOC_FL_KEEP_SIZE) && fstat(fd, &st) == 0 && o + n > st.st_size) note_size(fd, o + n);
    return real_fallocate(fd, mode, o, n);
}
int posix_fallocate(int fd, off_t o, off_t n) {
    struct stat st;
    if (fstat(fd, &st) == 0 && o + n > st.st_size) note_size(fd, o + n);
    return real_posix_fallocate(fd, o, n);
}
int fsync(int fd) { int r = real_fsync(fd); if (r == 0) note_sync(fd); return r; }
int fdatasync(int fd) { int r = real_fdatasync(fd); if (r == 0) note_sync(fd); return r; }

/* open with O_CREAT: a C record when the file did not exist before, or another file (another
 * inode) was at that name when this open looked (one unlinked it meanwhile). */
static int opened(int dirfd, const char *path, int flags, int fd, ino_t before) {
    struct stat st;
    if (fd >= 0 && (flags & O_CREAT) && log_fd >= 0 && fstat(fd, &st) == 0 && st.st_ino != before) {
        char abs[PATH_MAX], header[PATH_MAX + 8];
        absolute(dirfd, path, abs);
        if (under_root(abs)) { snprintf(header, sizeof header, "C %s\n", abs); record(header, NULL, 0); }
    }
    return fd;
}
/* The inode at `path` before an open with O_CREAT (0: none). */
static ino_t inode_at(int dirfd, const char *path, int flags) {
    struct stat st;
    if (!(flags & O_CREAT) || fstatat(dirfd, path, &st, 0) != 0) return 0;
    return st.st_ino;
}
#define OPEN_MODE(flags) mode_t mode = 0; if ((flags) & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }
int open(const char *p, int f, ...) { OPEN_MODE(f); ino_t e = inode_at(AT_FDCWD, p, f); return opened(AT_FDCWD, p, f, real_open(p, f, mode), e); }
int open64(const char *p, int f, ...) { OPEN_MODE(f); ino_t e = inode_at(AT_FDCWD, p, f); return opened(AT_FDCWD, p, f, real_open64(p, f, mode), e); }
int openat(int d, const char *p, int f, ...) { OPEN_MODE(f); ino_t e = inode_at(d, p, f); return opened(d, p, f, real_openat(d, p, f, mode), e); }
int openat64(int d, const char *p, int f, ...) { OPEN_MODE(f); ino_t e = inode_at(d, p, f); return opened(d, p, f, real_openat64(d, p, f, mode), e); }

static int do_rename(int od, const char *from, int nd, const char *to, unsigned int flags) {
    char a[PATH_MAX], b[PATH_MAX], kept[PATH_MAX], header[3 * PATH_MAX + 8];
    absolute(od, from, a);
    absolute(nd, to, b);
    int tracked = log_fd >= 0 && (under_root(a) || under_root(b));
    if (tracked) keep(b, kept);
    int r = flags ? real_renameat2(od, from, nd, to, flags) : real_renameat(od, from, nd, to);
    if (tracked) {
        if (r == 0) { snprintf(header, sizeof header, "R %s %s %s\n", a, b, kept); record(header, NULL, 0); }
        else if (strcmp(kept, "-") != 0) { int e = errno; real_unlink(kept); errno = e; }
    }
    return r;
}
int rename(const char *a, const char *b) { return do_rename(AT_FDCWD, a, AT_FDCWD, b, 0); }
int renameat(int od, const char *a, int nd, const char *b) { return do_rename(od, a, nd, b, 0); }
/* RENAME_EXCHANGE would need two records; it is passed through unrecorded (nothing here uses it). */
int renameat2(int od, const char *a, int nd, const char *b, unsigned int f) {
    return (f & RENAME_EXCHANGE) ? real_renameat2(od, a, nd, b, f) : do_rename(od, a, nd, b, f);
}

static int do_unlink(int dirfd, const char *path, int flags) {
    char a[PATH_MAX], kept[PATH_MAX], header[2 * PATH_MAX + 8];
    absolute(dirfd, path, a);
    int tracked = log_fd >= 0 && !(flags & AT_REMOVEDIR) && under_root(a);
    if (tracked) keep(a, kept);
    int r = real_unlinkat(dirfd, path, flags);
    if (tracked) {
        if (r == 0 && strcmp(kept, "-") != 0) { snprintf(header, sizeof header, "U %s %s\n", a, kept); record(header, NULL, 0); }
        else if (strcmp(kept, "-") != 0) { int e = errno; real_unlink(kept); errno = e; }
    }
    return r;
}
int unlink(const char *p) { return do_unlink(AT_FDCWD, p, 0); }

/* A hard link is a new name: a C record, undone by removing the name. */
static int linked(int dirfd, const char *path, int r) {
    if (r == 0 && log_fd >= 0) {
        char abs[PATH_MAX], header[PATH_MAX + 8];
        absolute(dirfd, path, abs);
        if (under_root(abs)) { snprintf(header, sizeof header, "C %s\n", abs); record(header, NULL, 0); }
    }
    return r;
}
int link(const char *a, const char *b) { return linked(AT_FDCWD, b, real_link(a, b)); }
int linkat(int od, const char *a, int nd, const char *b, int f) { return linked(nd, b, real_linkat(od, a, nd, b, f)); }
int unlinkat(int d, const char *p, int f) { return do_unlink(d, p, f); }
int remove(const char *p) {
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) return rmdir(p);
    return do_unlink(AT_FDCWD, p, 0);
}
