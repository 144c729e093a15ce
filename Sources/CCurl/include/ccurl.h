#ifndef HERALD_CCURL_H
#define HERALD_CCURL_H
/* libcurl, loaded when first used (herald_curl_load) rather than linked: heraldd without
   [kubernetes] never maps libcurl and the dozen TLS, Kerberos and LDAP libraries it pulls
   in (about 5 MB resident). The functions below stand for libcurl's; curl_easy_setopt and
   curl_easy_getinfo are variadic, which Swift cannot call, so there is one typed wrapper
   per kind of argument. Call herald_curl_load first: the others assume it succeeded. */
#include <curl/curl.h>
#include <stddef.h>

/* Loads libcurl.so.4 and runs curl_global_init, once. Returns 0, or -1 with a message in
   `error` (libcurl missing or too old). Safe to call from any thread, any number of times. */
int herald_curl_load(char *error, size_t length);

CURL *herald_curl_easy_init(void);
void herald_curl_easy_cleanup(CURL *handle);
CURLcode herald_curl_easy_perform(CURL *handle);
const char *herald_curl_easy_strerror(CURLcode code);
struct curl_slist *herald_curl_slist_append(struct curl_slist *list, const char *line);
void herald_curl_slist_free_all(struct curl_slist *list);

CURLcode herald_curl_long(CURL *handle, CURLoption option, long value);
CURLcode herald_curl_pointer(CURL *handle, CURLoption option, const void *value);
typedef size_t (*herald_curl_write_fn)(char *data, size_t size, size_t count, void *context);
CURLcode herald_curl_write(CURL *handle, herald_curl_write_fn function, void *context);
typedef int (*herald_curl_progress_fn)(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
CURLcode herald_curl_progress(CURL *handle, herald_curl_progress_fn function, void *context);
/* PEM data given in memory (kubeconfig *-data fields); curl copies it. */
CURLcode herald_curl_blob(CURL *handle, CURLoption option, const void *data, size_t length);
long herald_curl_status(CURL *handle);
#endif
