/*
 * alert.h — alerts on failures: a webhook (JSON POST) and e-mail (SMTP), both
 * through libcurl (curlapi.h: loaded only when an alert is actually sent).
 *
 * Rate limiting, per (program, repository): the first failure sends
 * "failing"; while it keeps failing, a "reminder" at most once per [alert]
 * repeat_after; the first success after a failure sends "recovered". The
 * state is one small file per key in the state directory ([alert] state_dir,
 * default <[archive] spool>/alert), read and replaced (temp file + rename)
 * under an flock of a companion lock file, so that of several processes
 * failing at once exactly one sends. The decision is made and written under
 * the lock; sending happens after it is released.
 *
 * A success with no failure state costs one stat() and nothing else.
 *
 * Sending is bounded as a whole by [alert] timeout seconds. An alert that
 * cannot be delivered counts as sent (the next one is the reminder): a dead
 * webhook must not add its timeout to every call of a failing wal-push.
 *
 * Messages name settings and URL hosts (scheme://host:port), never a URL's
 * user, password, path or query (a webhook's path often is its token).
 */
#ifndef PGARK_ALERT_H
#define PGARK_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef enum alert_status
{
	ALERT_NONE = 0,				/* nothing to send */
	ALERT_FAILING,				/* first failure */
	ALERT_REMINDER,				/* still failing, repeat_after later */
	ALERT_RECOVERED				/* first success after a failure */
} alert_status;

typedef struct alert_state
{
	int64_t		since;			/* time of the first failure */
	int64_t		last_sent;		/* time of the last alert or reminder */
	int64_t		count;			/* failures since then */
	uint64_t	sig;			/* the failure's signature (alert_report_sig); 0 none */
} alert_state;

/* "failing", "reminder", "recovered" ("" for ALERT_NONE) */
const char *alert_status_name(alert_status s);

/* Whether [alert] sends anything (webhook or email set). */
int			alert_enabled(const pgark_config *cfg);

/*
 * The rule, without I/O: given the state (have_state: a failure is on
 * record) and this run's outcome at time now, update *st and say what to
 * send. After ALERT_RECOVERED the state is to be removed (*st keeps the
 * failure's since and count for the notice).
 */
alert_status alert_next(alert_state *st, int have_state, int failing, int64_t now, int64_t repeat_after);

/* Check the [alert] settings (called by config_validate). */
int			alert_validate(const pgark_config *cfg, const char *src, pgark_err *err);

/* The state directory; -1 if none can be had (not configured). */
int			alert_state_dir(const pgark_config *cfg, char *out, size_t len);

/* scheme://host[:port] of url, without userinfo, path or query. */
void		alert_url_host(const char *url, char *out, size_t len);

typedef struct alert_event
{
	const char *program;
	const char *host;
	const char *repository;		/* path or s3://bucket/prefix */
	alert_status status;
	int64_t		since;
	int64_t		time;
	const char *message;
	int64_t		count;
} alert_event;

/* The webhook's JSON body; the e-mail (headers and body, CRLF). 0 or -1 if
 * it does not fit. */
int			alert_json(const alert_event *ev, char *out, size_t len);
int			alert_mail(const pgark_config *cfg, const alert_event *ev, char *out, size_t len);

/* Send ev through every configured channel, within [alert] timeout. */
int			alert_send(const pgark_config *cfg, const alert_event *ev, pgark_err *err);

/*
 * The outcome of one run of program on the configured repository: failing
 * with message, or a success (message may be NULL). Sends what the rule
 * says; *sent (may be NULL) gets it. Returns 0, or -1 with err when the
 * state could not be kept or an alert could not be delivered — a warning
 * for the caller, never a reason to change its own result.
 */
int			alert_report(const pgark_config *cfg, const char *program, int failing, const char *message,
						 alert_status *sent, pgark_err *err);
/* The same, with what kind of failure it is (e.g. repo-check's state and
 * failing checks): a failure whose signature differs from the one on
 * record is a new episode, alerted at once (NULL: any failure is the
 * same). */
int			alert_report_sig(const pgark_config *cfg, const char *program, int failing, const char *message,
							 const char *signature, alert_status *sent, pgark_err *err);

#endif
