// A few typed entry points into libcurl's easy interface for ObjectStorage's CurlTransport:
// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call.
#ifndef LOGSHIP_CCURL_H
#define LOGSHIP_CCURL_H

#include <stddef.h>
#include <curl/curl.h>

/// A growing buffer the shim fills with a response's header lines or body; free with ccurl_buf_free.
typedef struct ccurl_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;  // an allocation failed: the transfer is aborted
} ccurl_buf;

/// One request on `handle` (reset first; its connection cache is kept, so a later request to the
/// same host reuses the connection). `body` of `body_len` bytes is sent when `has_body` is set
/// (PUT and POST), read in place. Headers are `headers` as given, plus an empty Expect (no
/// 100-continue round trip). `low_speed_seconds`: abort when under 1 byte/s for that long
/// (a stalled transfer); `connect_timeout_ms` bounds the connect. On success fills `status`, the
/// last response's header lines in `head`, the body in `out`; returns the CURLcode, with a
/// message in `error` (CURL_ERROR_SIZE bytes).
int ccurl_perform(CURL *handle, const char *method, const char *url, struct curl_slist *headers,
                  int has_body, const void *body, size_t body_len,
                  long low_speed_seconds, long connect_timeout_ms,
                  long *status, ccurl_buf *head, ccurl_buf *out, char *error);

void ccurl_buf_free(ccurl_buf *buffer);

#endif
