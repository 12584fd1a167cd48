/*
 * clock.c: an LD_PRELOAD shim that moves a process's wall clock (CLOCK_REALTIME and its
 * coarse variant, gettimeofday, time) by an offset in microseconds read, at every call, from
 * the file named by LOGSHIP_CLOCK_OFFSET_FILE; a test changes the offset while the process
 * runs (write a new file, rename it over the old one), so the clock jumps back and forth.
 * Monotonic clocks are left alone, as NTP leaves them. A missing or unreadable file is offset 0.
 *
 *   cc -shared -fPIC -O2 -o clock.so tools/faults/clock.c -ldl
 *   echo -7200000000 > /tmp/offset; LD_PRELOAD=./clock.so LOGSHIP_CLOCK_OFFSET_FILE=/tmp/offset binlog-writer exec ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_gettimeofday)(struct timeval *, void *);
static const char *offset_file;

__attribute__((constructor)) static void clock_init(void) {
    real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    real_gettimeofday = dlsym(RTLD_NEXT, "gettimeofday");
    offset_file = getenv("LOGSHIP_CLOCK_OFFSET_FILE");
}

static long long offset_us(void) {
    if (!offset_file) return 0;
    int fd = open(offset_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    return strtoll(buf, NULL, 10);
}

static void shift(struct timespec *ts) {
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_us() * 1000LL;
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    int r = real_clock_gettime(clock, ts);
    if (r == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) shift(ts);
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    int r = real_clock_gettime(CLOCK_REALTIME, &ts);
    if (r != 0) return real_gettimeofday(tv, tz);
    shift(&ts);
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
