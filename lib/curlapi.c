/*
 * curlapi.c — the one place that loads libcurl (see curlapi.h).
 */
#include "curlapi.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <dlfcn.h>

curlapi_fns curlapi;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int	curl_init_rc;
static int	curl_no_library;
static char curl_load_error[512];

static int
curl_sym(void *lib, const char *name, void *fnp)
{
	void	   *f = dlsym(lib, name);

	if (f == NULL)
	{
		snprintf(curl_load_error, sizeof(curl_load_error), "%s has no %s", CURL_SONAME, name);
		return -1;
	}
	/* POSIX guarantees that a dlsym result converts to a function pointer */
	memcpy(fnp, &f, sizeof(f));
	return 0;
}

static void
curl_global(void)
{
	void	   *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	curl_init_rc = -1;
	if (lib == NULL)
	{
		e = dlerror();
		curl_no_library = 1;
		snprintf(curl_load_error, sizeof(curl_load_error), "%s", e ? e : CURL_SONAME);
		return;
	}
	if (curl_sym(lib, "curl_global_init", &curlapi.global_init) != 0 ||
		curl_sym(lib, "curl_easy_init", &curlapi.easy_init) != 0 ||
		curl_sym(lib, "curl_easy_setopt", &curlapi.easy_setopt) != 0 ||
		curl_sym(lib, "curl_easy_perform", &curlapi.easy_perform) != 0 ||
		curl_sym(lib, "curl_easy_getinfo", &curlapi.easy_getinfo) != 0 ||
		curl_sym(lib, "curl_easy_cleanup", &curlapi.easy_cleanup) != 0 ||
		curl_sym(lib, "curl_easy_reset", &curlapi.easy_reset) != 0 ||
		curl_sym(lib, "curl_easy_strerror", &curlapi.easy_strerror) != 0 ||
		curl_sym(lib, "curl_getdate", &curlapi.getdate) != 0 ||
		curl_sym(lib, "curl_slist_append", &curlapi.slist_append) != 0 ||
		curl_sym(lib, "curl_slist_free_all", &curlapi.slist_free_all) != 0)
		return;					/* the library stays loaded: harmless */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		snprintf(curl_load_error, sizeof(curl_load_error), "libcurl could not be initialised");
		return;
	}
	curl_init_rc = 0;
}

int
curlapi_load(const char **why, int *no_library)
{
	pthread_once(&curl_once, curl_global);
	*no_library = curl_no_library;
	*why = curl_load_error;
	return curl_init_rc;
}
