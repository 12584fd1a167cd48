#include "CCurl.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *data;
    size_t len;
    size_t offset;
} ccurl_source;

static size_t read_body(char *into, size_t size, size_t count, void *context) {
    ccurl_source *source = context;
    size_t room = size * count, left = source->len - source->offset;
    size_t n = left < room ? left : room;
    memcpy(into, source->data + source->offset, n);
    source->offset += n;
    return n;
}

static int seek_body(void *context, curl_off_t offset, int origin) {
    ccurl_source *source = context;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > source->len) return CURL_SEEKFUNC_FAIL;
    source->offset = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t append(char *bytes, size_t size, size_t count, void *context) {
    ccurl_buf *buffer = context;
    size_t n = size * count;
    if (buffer->len + n > buffer->cap) {
        size_t cap = buffer->cap ? buffer->cap : 4096;
        while (cap < buffer->len + n) cap *= 2;
        char *grown = realloc(buffer->data, cap);
        if (!grown) { buffer->failed = 1; return 0; }
        buffer->data = grown;
        buffer->cap = cap;
    }
    memcpy(buffer->data + buffer->len, bytes, n);
    buffer->len += n;
    return n;
}

/// Keeps only the last response's header block: a status line starts a new one (after a
/// 100 Continue, or a redirect, which is not followed).
static size_t append_header(char *bytes, size_t size, size_t count, void *context) {
    ccurl_buf *buffer = context;
    if (size * count >= 5 && strncasecmp(bytes, "HTTP/", 5) == 0) buffer->len = 0;
    return append(bytes, size, count, context);
}

int ccurl_perform(CURL *handle, const char *method, const char *url, struct curl_slist *headers,
                  int has_body, const void *body, size_t body_len,
                  long low_speed_seconds, long connect_timeout_ms,
                  long *status, ccurl_buf *head, ccurl_buf *out, char *error) {
    ccurl_source source = { body, body_len, 0 };
    error[0] = 0;
    curl_easy_reset(handle);
    curl_easy_setopt(handle, CURLOPT_URL, url);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, append_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, head);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, low_speed_seconds);
    curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        // UPLOAD streams the body from memory through the read callback (no copy of it), with
        // a Content-Length; the method is then set over UPLOAD's PUT.
        curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(handle, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(handle, CURLOPT_READDATA, &source);
        curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, seek_body);
        curl_easy_setopt(handle, CURLOPT_SEEKDATA, &source);
        curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(handle, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode code = curl_easy_perform(handle);
    if (code == CURLE_OK && (head->failed || out->failed)) code = CURLE_OUT_OF_MEMORY;
    long http = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http);
    *status = http;
    return (int)code;
}

void ccurl_buf_free(ccurl_buf *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->len = buffer->cap = 0;
}
