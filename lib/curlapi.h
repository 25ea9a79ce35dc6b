/*
 * curlapi.h — libcurl, loaded with dlopen on first use rather than linked.
 *
 * libcurl brings some thirty libraries (TLS, Kerberos, LDAP, ...) whose
 * loading would cost every wal-push and wal-fetch several milliseconds even
 * when nothing talks to the network (a local repository, no alert to send).
 * Users (store_s3.c, alert.c) include this header instead of calling libcurl
 * directly: the curl_* names below go through the loaded pointers.
 */
#ifndef PGARK_CURLAPI_H
#define PGARK_CURLAPI_H

#include <time.h>

/* the functions are called through pointers */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#define CURL_SONAME "libcurl.so.4"

typedef struct curlapi_fns
{
	CURLcode	(*global_init) (long flags);
	CURL	   *(*easy_init) (void);
	CURLcode	(*easy_setopt) (CURL *h, CURLoption opt,...);
	CURLcode	(*easy_perform) (CURL *h);
	CURLcode	(*easy_getinfo) (CURL *h, CURLINFO info,...);
	void		(*easy_cleanup) (CURL *h);
	void		(*easy_reset) (CURL *h);
	const char *(*easy_strerror) (CURLcode code);
	time_t		(*getdate) (const char *p, const time_t *unused);
	struct curl_slist *(*slist_append) (struct curl_slist *l, const char *s);
	void		(*slist_free_all) (struct curl_slist *l);
} curlapi_fns;

extern curlapi_fns curlapi;

/*
 * Load libcurl and run curl_global_init, once per process (thread-safe).
 * Returns 0, or -1 with *why set to a static message; *no_library is set to 1
 * when libcurl.so.4 itself could not be opened (callers say what needs it).
 */
int			curlapi_load(const char **why, int *no_library);

/* curl.h may define some of these names as macros itself */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (*curlapi.global_init)
#define curl_easy_init (*curlapi.easy_init)
#define curl_easy_setopt (*curlapi.easy_setopt)
#define curl_easy_perform (*curlapi.easy_perform)
#define curl_easy_getinfo (*curlapi.easy_getinfo)
#define curl_easy_cleanup (*curlapi.easy_cleanup)
#define curl_easy_reset (*curlapi.easy_reset)
#define curl_easy_strerror (*curlapi.easy_strerror)
#define curl_getdate (*curlapi.getdate)
#define curl_slist_append (*curlapi.slist_append)
#define curl_slist_free_all (*curlapi.slist_free_all)

#endif
