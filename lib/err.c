#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
err_set(pgark_err *err, pgark_errkind kind, int sys_errno, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return -1;
	err->kind = kind;
	err->sys_errno = sys_errno;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
err_sys(pgark_err *err, pgark_errkind kind, const char *fmt,...)
{
	int			e = errno;
	va_list		ap;
	size_t		n;

	if (err == NULL)
		return -1;
	if (e == ENOSPC || e == EDQUOT)
		kind = PGARK_ERR_NOSPACE;
	err->kind = kind;
	err->sys_errno = e;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(e));
	errno = e;
	return -1;
}

int
err_prefix(pgark_err *err, const char *fmt,...)
{
	char		pre[512];
	char		old[sizeof(err->msg)];
	va_list		ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", pre, old) >= (int) sizeof(err->msg))
		memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
	return -1;
}

void
err_clear(pgark_err *err)
{
	if (err == NULL)
		return;
	err->kind = PGARK_OK;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}

int
err_says_nothing_of_object(const pgark_err *err)
{
	return err->kind == PGARK_ERR_TRANSIENT || err->kind == PGARK_ERR_INTERNAL ||
		(err->kind == PGARK_ERR_KEY && err->sys_errno != ENOENT);
}

const char *
err_kind_name(pgark_errkind kind)
{
	switch (kind)
	{
		case PGARK_OK: return "ok";
		case PGARK_ERR_USAGE: return "usage";
		case PGARK_ERR_CONFIG: return "config";
		case PGARK_ERR_BADNAME: return "bad-name";
		case PGARK_ERR_NOTFOUND: return "not-found";
		case PGARK_ERR_EXISTS: return "exists";
		case PGARK_ERR_CONFLICT: return "conflict";
		case PGARK_ERR_CORRUPT: return "corrupt";
		case PGARK_ERR_KEY: return "key";
		case PGARK_ERR_MISMATCH: return "mismatch";
		case PGARK_ERR_NOREPO: return "no-repository";
		case PGARK_ERR_NOSPACE: return "no-space";
		case PGARK_ERR_IO: return "io";
		case PGARK_ERR_TRANSIENT: return "transient";
		case PGARK_ERR_DB: return "database";
		case PGARK_ERR_INTERNAL: return "internal";
	}
	return "unknown";
}
