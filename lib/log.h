/*
 * log.h — messages for people (stderr) and the audit log (JSON lines).
 *
 * Only programs call the log_* functions: library code reports through
 * pgark_err and never prints. The audit log gets one JSON object per
 * operation, appended with O_APPEND in a single write.
 */
#ifndef PGARK_LOG_H
#define PGARK_LOG_H

#include <stdint.h>

#include "config.h"
#include "err.h"

void		log_init(const char *program, log_level level);
void		log_set_level(log_level level);
log_level	log_get_level(void);
void		log_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
void		log_warning(const char *fmt,...) __attribute__((format(printf, 1, 2)));
void		log_info(const char *fmt,...) __attribute__((format(printf, 1, 2)));
void		log_debug(const char *fmt,...) __attribute__((format(printf, 1, 2)));

typedef struct audit_rec
{
	const char *program;
	const char *action;			/* push, fetch, init, ... */
	const char *object;			/* repository object or file */
	const char *result;			/* ok, exists, conflict, not-found, error kind */
	const char *detail;			/* message, or NULL */
	uint64_t	bytes;			/* plaintext bytes */
	uint64_t	stored;			/* stored bytes */
	double		duration_ms;
} audit_rec;

/* Append one JSON line to path (created 0600). */
int			audit_append(const char *path, const audit_rec *rec, pgark_err *err);

/* JSON string escaping into out (always NUL-terminated, truncates). */
void		json_escape(const char *in, char *out, size_t outlen);

#endif
