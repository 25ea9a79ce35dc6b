/*
 * err.h — how the library reports failure.
 *
 * Every fallible library function takes a `pgark_err *` as its last argument,
 * returns 0 (or a valid pointer) on success and -1 (or NULL) on failure, and on
 * failure fills the struct: a kind (what the caller may act on), the errno that
 * caused it (0 if none) and a message that names the file, object, key or
 * setting involved.  The library never prints and never exits; programs map
 * kinds to exit codes in one place (common/prog.c).
 */
#ifndef PGARK_ERR_H
#define PGARK_ERR_H

#include <stddef.h>

typedef enum pgark_errkind
{
	PGARK_OK = 0,
	PGARK_ERR_USAGE,		/* bad command line */
	PGARK_ERR_CONFIG,		/* malformed or invalid configuration */
	PGARK_ERR_BADNAME,		/* not a WAL / history / backup file name */
	PGARK_ERR_NOTFOUND,		/* object or file does not exist */
	PGARK_ERR_EXISTS,		/* object already exists (no-overwrite put) */
	PGARK_ERR_CONFLICT,		/* archived object has different content */
	PGARK_ERR_CORRUPT,		/* object fails authentication, checksum or structure */
	PGARK_ERR_KEY,			/* key missing, unsafe, or not the right one */
	PGARK_ERR_MISMATCH,		/* file belongs to another cluster / wrong size */
	PGARK_ERR_NOREPO,		/* repository not initialised */
	PGARK_ERR_NOSPACE,		/* ENOSPC / EDQUOT */
	PGARK_ERR_IO,			/* other I/O failure, local */
	PGARK_ERR_TRANSIENT,	/* storage unreachable / timed out: may work later */
	PGARK_ERR_DB,			/* libpq / server error */
	PGARK_ERR_INTERNAL		/* out of memory, library failure, bug */
} pgark_errkind;

typedef struct pgark_err
{
	pgark_errkind kind;
	int			sys_errno;
	char		msg[1024];
} pgark_err;

/* Set kind/errno/message (printf-style). Always returns -1. */
int			err_set(pgark_err *err, pgark_errkind kind, int sys_errno,
					const char *fmt,...) __attribute__((format(printf, 4, 5)));

/* As err_set with sys_errno = errno, appending ": strerror(errno)". Kind NOSPACE
 * is chosen automatically for ENOSPC/EDQUOT. */
int			err_sys(pgark_err *err, pgark_errkind kind,
					const char *fmt,...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with more context ("while X: <old>"). Returns -1. */
int			err_prefix(pgark_err *err, const char *fmt,...) __attribute__((format(printf, 2, 3)));

void		err_clear(pgark_err *err);
const char *err_kind_name(pgark_errkind kind);

/*
 * Reading an object failed for a reason that says nothing about that object:
 * the store is unreachable, the master key does not open, memory ran out.
 * A run that scans the repository (repo-list, repo-verify, repo-expire) then
 * stops. Anything else is the object's own problem and makes it damaged or
 * unreadable — an object naming a data key the repository does not hold
 * (PGARK_ERR_KEY with ENOENT) included: that object cannot be restored.
 */
int			err_says_nothing_of_object(const pgark_err *err);

#endif
