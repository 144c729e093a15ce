#include "ccurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[256];

static void load(void) {
    /* The SONAME of libcurl 7.16 and later (Debian's libcurl4 package). */
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(failure, sizeof failure, "cannot load libcurl (install libcurl4): %s", dlerror());
        return;
    }
#define LOAD(field, name)                                                                    \
    do {                                                                                     \
        *(void **)&curl.field = dlsym(library, name);                                        \
        if (curl.field == NULL) {                                                            \
            snprintf(failure, sizeof failure, "libcurl.so.4 has no %s: too old", name);     \
            return;                                                                          \
        }                                                                                    \
    } while (0)
    LOAD(global_init, "curl_global_init");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_perform, "curl_easy_perform");
    LOAD(easy_strerror, "curl_easy_strerror");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_getinfo, "curl_easy_getinfo");
    LOAD(slist_append, "curl_slist_append");
    LOAD(slist_free_all, "curl_slist_free_all");
#undef LOAD
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(failure, sizeof failure, "curl_global_init failed");
    }
}

int herald_curl_load(char *error, size_t length) {
    pthread_once(&once, load);
    if (failure[0] == '\0') return 0;
    snprintf(error, length, "%s", failure);
    return -1;
}

CURL *herald_curl_easy_init(void) { return curl.easy_init(); }
void herald_curl_easy_cleanup(CURL *handle) { curl.easy_cleanup(handle); }
CURLcode herald_curl_easy_perform(CURL *handle) { return curl.easy_perform(handle); }
const char *herald_curl_easy_strerror(CURLcode code) { return curl.easy_strerror(code); }
struct curl_slist *herald_curl_slist_append(struct curl_slist *list, const char *line) { return curl.slist_append(list, line); }
void herald_curl_slist_free_all(struct curl_slist *list) { curl.slist_free_all(list); }

CURLcode herald_curl_long(CURL *handle, CURLoption option, long value) { return curl.easy_setopt(handle, option, value); }

CURLcode herald_curl_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl.easy_setopt(handle, option, value);
}

CURLcode herald_curl_write(CURL *handle, herald_curl_write_fn function, void *context) {
    CURLcode code = curl.easy_setopt(handle, CURLOPT_WRITEFUNCTION, function);
    return code != CURLE_OK ? code : curl.easy_setopt(handle, CURLOPT_WRITEDATA, context);
}

CURLcode herald_curl_progress(CURL *handle, herald_curl_progress_fn function, void *context) {
    CURLcode code = curl.easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, function);
    if (code != CURLE_OK) return code;
    code = curl.easy_setopt(handle, CURLOPT_XFERINFODATA, context);
    return code != CURLE_OK ? code : curl.easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
}

CURLcode herald_curl_blob(CURL *handle, CURLoption option, const void *data, size_t length) {
    struct curl_blob blob = { (void *)data, length, CURL_BLOB_COPY };
    return curl.easy_setopt(handle, option, &blob);
}

long herald_curl_status(CURL *handle) {
    long status = 0;
    curl.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    return status;
}
