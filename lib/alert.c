/*
 * alert.c — webhook and e-mail alerts, rate-limited (see alert.h).
 */
#include "alert.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "curlapi.h"
#include "log.h"
#include "util.h"

#ifndef PGARK_VERSION
#define PGARK_VERSION "0.0.0"
#endif

#define MAX_RECIPIENTS 20
#define STATE_MAGIC "pgark-alert 1"

const char *
alert_status_name(alert_status s)
{
	switch (s)
	{
		case ALERT_FAILING:
			return "failing";
		case ALERT_REMINDER:
			return "reminder";
		case ALERT_RECOVERED:
			return "recovered";
		case ALERT_NONE:
			break;
	}
	return "";
}

int
alert_enabled(const pgark_config *cfg)
{
	return cfg->alert_webhook[0] != '\0' || cfg->alert_email[0] != '\0';
}

alert_status
alert_next(alert_state *st, int have_state, int failing, int64_t now, int64_t repeat_after)
{
	if (!failing)
		return have_state ? ALERT_RECOVERED : ALERT_NONE;
	if (!have_state)
	{
		st->since = now;
		st->last_sent = now;
		st->count = 1;
		return ALERT_FAILING;
	}
	st->count++;
	/* (a clock set back: the reminder is due rather than silenced) */
	if (repeat_after > 0 && (now - st->last_sent >= repeat_after || now < st->last_sent))
	{
		st->last_sent = now;
		return ALERT_REMINDER;
	}
	return ALERT_NONE;
}

void
alert_url_host(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	const char *auth, *end, *at;

	if (p == NULL)
	{
		snprintf(out, len, "(not a URL)");
		return;
	}
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	at = NULL;
	for (const char *q = auth; q < end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL)
		auth = at + 1;
	snprintf(out, len, "%.*s%.*s", (int) (p + 3 - url), url, (int) (end - auth), auth);
}

static int
has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s <= ' ' || *s == 0x7f)
			return 1;
	return 0;
}

/* err's message, then "; " and more */
static void
append_msg(pgark_err *err, const char *more)
{
	size_t		l = strlen(err->msg);

	snprintf(err->msg + l, sizeof(err->msg) - l, "; %s", more);
}

/* Whether url carries user:password@ */
static int
url_has_userinfo(const char *url)
{
	const char *p = strstr(url, "://");
	size_t		n;

	if (p == NULL)
		return 0;
	p += 3;
	n = strcspn(p, "/?#");
	return memchr(p, '@', n) != NULL;
}

/* The next comma-separated recipient of *list into out (trimmed); 0 at the end. */
static int
next_recipient(const char **list, char *out, size_t len)
{
	const char *s = *list;
	size_t		n;

	for (;;)
	{
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
		{
			*list = s;
			return 0;
		}
		n = strcspn(s, ",");
		*list = s + n;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 0)
		{
			s = *list;
			continue;
		}
		if (n >= len)
			n = len - 1;
		memcpy(out, s, n);
		out[n] = '\0';
		return 1;
	}
}

int
alert_validate(const pgark_config *cfg, const char *src, pgark_err *err)
{
	char		host[512];

	if (cfg->alert_webhook[0])
	{
		alert_url_host(cfg->alert_webhook, host, sizeof(host));
		if ((strncmp(cfg->alert_webhook, "https://", 8) != 0 && strncmp(cfg->alert_webhook, "http://", 7) != 0) ||
			has_ctl_or_space(cfg->alert_webhook))
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [alert] webhook: %s is not an http:// or https:// URL", src, host);
	}
	if (cfg->alert_smtp_url[0])
	{
		alert_url_host(cfg->alert_smtp_url, host, sizeof(host));
		if ((strncmp(cfg->alert_smtp_url, "smtp://", 7) != 0 && strncmp(cfg->alert_smtp_url, "smtps://", 8) != 0) ||
			has_ctl_or_space(cfg->alert_smtp_url))
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [alert] smtp_url: %s is not an smtp:// or smtps:// URL", src, host);
		if (cfg->alert_email[0] == '\0')
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [alert] smtp_url is set but email (the recipients) is not", src);
	}
	if (cfg->alert_email[0])
	{
		const char *l = cfg->alert_email;
		char		rcpt[320];
		int			n = 0;

		if (cfg->alert_smtp_url[0] == '\0')
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [alert] email needs smtp_url (smtp://HOST:PORT or smtps://HOST:PORT)", src);
		while (next_recipient(&l, rcpt, sizeof(rcpt)))
		{
			if (strchr(rcpt, '@') == NULL || has_ctl_or_space(rcpt) || strpbrk(rcpt, "<>\"") != NULL)
				return err_set(err, PGARK_ERR_CONFIG, 0,
							   "%s: [alert] email: \"%s\" is not an e-mail address", src, rcpt);
			if (++n > MAX_RECIPIENTS)
				return err_set(err, PGARK_ERR_CONFIG, 0,
							   "%s: [alert] email: more than %d recipients", src, MAX_RECIPIENTS);
		}
		if (n == 0)
			return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [alert] email: no address", src);
	}
	if (strpbrk(cfg->alert_from, "\r\n") != NULL)
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [alert] from: a line break is not allowed", src);
	if (cfg->alert_smtp_password_file[0] && cfg->alert_smtp_user[0] == '\0')
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [alert] smtp_password_file needs smtp_user", src);
	if (alert_enabled(cfg) && cfg->alert_state_dir[0] == '\0' && cfg->spool[0] == '\0')
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [alert] needs somewhere to remember what it has sent (so that a failing "
					   "archive_command alerts once, not every minute): set [alert] state_dir, "
					   "or [archive] spool (alerts then use SPOOL/alert)", src);
	return 0;
}

int
alert_state_dir(const pgark_config *cfg, char *out, size_t len)
{
	int			n;

	if (cfg->alert_state_dir[0])
		n = snprintf(out, len, "%s", cfg->alert_state_dir);
	else if (cfg->spool[0])
		n = snprintf(out, len, "%s/alert", cfg->spool);
	else
		return -1;
	return n > 0 && (size_t) n < len ? 0 : -1;
}

/* The key's file name: program-<FNV-1a 64 of the repository>. */
static int
state_path(const pgark_config *cfg, const char *program, char *out, size_t len)
{
	char		dir[PATH_MAX];
	char		where[1200];
	char		prog[64];
	uint64_t	h = UINT64_C(14695981039346656037);
	size_t		i;
	int			n;

	if (alert_state_dir(cfg, dir, sizeof(dir)) != 0)
		return -1;
	config_repo_where(cfg, where, sizeof(where));
	for (const char *s = where; *s; s++)
	{
		h ^= (unsigned char) *s;
		h *= UINT64_C(1099511628211);
	}
	for (i = 0; i < sizeof(prog) - 1 && program[i]; i++)
	{
		char		c = program[i];

		prog[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
				   c == '_') ? c : '_';
	}
	prog[i] = '\0';
	n = snprintf(out, len, "%s/%s-%016" PRIx64, dir, prog, h);
	return n > 0 && (size_t) n < len - 8 ? 0 : -1;	/* room for ".lock"/".tmp" */
}

static int
state_read(const char *path, alert_state *st)
{
	FILE	   *f = fopen(path, "re");
	char		magic[32];
	long long	since, last, count;
	int			ok;

	if (f == NULL)
		return 0;
	unsigned long long sig = 0;

	ok = fscanf(f, "%31[^\n]\nsince %lld\nlast_sent %lld\ncount %lld", magic, &since, &last, &count) == 4 &&
		strcmp(magic, STATE_MAGIC) == 0;
	if (ok && fscanf(f, "\nsig %llx", &sig) != 1)
		sig = 0;
	fclose(f);
	if (!ok)
		return 0;				/* unreadable: as if none (the next failure alerts anew) */
	st->since = since;
	st->last_sent = last;
	st->count = count;
	st->sig = (uint64_t) sig;
	return 1;
}

static int
state_write(const char *path, const alert_state *st, pgark_err *err)
{
	char		tmp[PATH_MAX + 8];
	char		buf[160];
	int			fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(buf, sizeof(buf), STATE_MAGIC "\nsince %lld\nlast_sent %lld\ncount %lld\nsig %016llx\n",
				 (long long) st->since, (long long) st->last_sent, (long long) st->count,
				 (unsigned long long) st->sig);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "alert state \"%s\"", tmp);
	if (write_full(fd, buf, (size_t) n) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "alert state \"%s\"", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "alert state \"%s\"", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
rfc5322_date(int64_t secs, char *out, size_t len)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec"};
	time_t		t = (time_t) secs;
	struct tm	tm;

	/* by hand, in UTC: the server's LC_TIME must not translate the names */
	gmtime_r(&t, &tm);
	snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
			 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int
alert_json(const alert_event *ev, char *out, size_t len)
{
	char		program[128], host[512], repo[2 * PATH_MAX], msg[4096], since[40], now[40];
	int			n;

	json_escape(ev->program, program, sizeof(program));
	json_escape(ev->host, host, sizeof(host));
	json_escape(ev->repository, repo, sizeof(repo));
	json_escape(ev->message ? ev->message : "", msg, sizeof(msg));
	iso8601_from_unix(ev->since, since, sizeof(since));
	iso8601_from_unix(ev->time, now, sizeof(now));
	n = snprintf(out, len,
				 "{\"program\":\"%s\",\"host\":\"%s\",\"repository\":\"%s\",\"status\":\"%s\","
				 "\"since\":\"%s\",\"time\":\"%s\",\"message\":\"%s\",\"count\":%lld}",
				 program, host, repo, alert_status_name(ev->status), since, now, msg, (long long) ev->count);
	return n > 0 && (size_t) n < len ? 0 : -1;
}

/* One header line's worth of text: no line breaks, at most max bytes. */
static void
one_line(const char *in, char *out, size_t len, size_t max)
{
	size_t		i;

	if (max >= len)
		max = len - 1;
	for (i = 0; i < max && in[i]; i++)
		out[i] = (in[i] == '\r' || in[i] == '\n' || in[i] == '\t') ? ' ' : in[i];
	out[i] = '\0';
}

static void
mail_from(const pgark_config *cfg, const char *host, char *out, size_t len)
{
	if (cfg->alert_from[0])
		snprintf(out, len, "%s", cfg->alert_from);
	else
		snprintf(out, len, "pgark@%s", host);
}

int
alert_mail(const pgark_config *cfg, const alert_event *ev, char *out, size_t len)
{
	static const char *const subj[] = {"", "FAILING", "STILL FAILING", "RECOVERED"};
	char		date[64], from[300], to[1100], summary[200], since[40], now[40];
	const char *l = cfg->alert_email;
	char		rcpt[320];
	size_t		tl = 0;
	int			n;

	rfc5322_date(ev->time, date, sizeof(date));
	mail_from(cfg, ev->host, from, sizeof(from));
	to[0] = '\0';
	while (next_recipient(&l, rcpt, sizeof(rcpt)))
	{
		n = snprintf(to + tl, sizeof(to) - tl, "%s%s", tl ? ", " : "", rcpt);
		if (n < 0 || (size_t) n >= sizeof(to) - tl)
			return -1;
		tl += (size_t) n;
	}
	one_line(ev->message ? ev->message : "", summary, sizeof(summary), 150);
	iso8601_from_unix(ev->since, since, sizeof(since));
	iso8601_from_unix(ev->time, now, sizeof(now));
	n = snprintf(out, len,
				 "Date: %s\r\n"
				 "From: %s\r\n"
				 "To: %s\r\n"
				 "Subject: [pgark] %s %s on %s: %s\r\n"
				 "Message-ID: <pgark.%lld.%ld.%08lx@%s>\r\n"
				 "MIME-Version: 1.0\r\n"
				 "Content-Type: text/plain; charset=utf-8\r\n"
				 "Content-Transfer-Encoding: 8bit\r\n"
				 "Auto-Submitted: auto-generated\r\n"
				 "\r\n"
				 "%s on %s: %s\r\n"
				 "\r\n"
				 "Program:    %s\r\n"
				 "Host:       %s\r\n"
				 "Repository: %s\r\n"
				 "Status:     %s\r\n"
				 "Since:      %s\r\n"
				 "Time:       %s\r\n"
				 "Failures:   %lld\r\n"
				 "Message:    %s\r\n",
				 date, from, to, subj[ev->status], ev->program, ev->host, summary,
				 (long long) ev->time, (long) getpid(), (unsigned long) (random() & 0xffffffffL), ev->host,
				 ev->program, ev->host,
				 ev->status == ALERT_RECOVERED ? "works again" :
				 ev->status == ALERT_REMINDER ? "still failing" : "failing",
				 ev->program, ev->host, ev->repository, alert_status_name(ev->status), since, now,
				 (long long) ev->count, summary);
	return n > 0 && (size_t) n < len ? 0 : -1;
}

static size_t
discard_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	(void) data;
	(void) arg;
	return size * nmemb;
}

typedef struct upload
{
	const char *p;
	size_t		left;
} upload;

static size_t
read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	upload	   *u = arg;
	size_t		n = size * nmemb;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* Milliseconds left before the deadline, at least 1. */
static long
left_ms(double deadline)
{
	double		l = deadline - now_ms();

	return l < 1 ? 1 : (long) l;
}

static void
common_opts(CURL *h, double deadline, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left_ms(deadline));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, left_ms(deadline));
	curl_easy_setopt(h, CURLOPT_USERAGENT, "pgark/" PGARK_VERSION);
}

static int
curl_failed(pgark_err *err, const char *what, const char *host, CURLcode rc, const char *errbuf)
{
	return err_set(err, PGARK_ERR_TRANSIENT, 0, "alert %s %s: %s", what, host,
				   errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static int
send_webhook(const pgark_config *cfg, const alert_event *ev, double deadline, pgark_err *err)
{
	char		body[8192];
	char		host[512];
	char		errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	CURL	   *h;
	CURLcode	rc;
	long		status = 0;

	alert_url_host(cfg->alert_webhook, host, sizeof(host));
	if (alert_json(ev, body, sizeof(body)) != 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "alert webhook %s: message too long", host);
	if ((h = curl_easy_init()) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "alert webhook %s: libcurl could not start", host);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	common_opts(h, deadline, errbuf);
	curl_easy_setopt(h, CURLOPT_URL, cfg->alert_webhook);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK)
		return curl_failed(err, "webhook", host, rc, errbuf);
	if (status < 200 || status > 299)
		return err_set(err, PGARK_ERR_TRANSIENT, 0, "alert webhook %s: HTTP status %ld", host, status);
	return 0;
}

/* The password in [alert] smtp_password_file (first line). */
static int
read_password(const char *path, char *out, size_t len, pgark_err *err)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t		n;

	if (fd < 0)
		return err_sys(err, PGARK_ERR_CONFIG, "[alert] smtp_password_file \"%s\"", path);
	n = read_full(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return err_sys(err, PGARK_ERR_CONFIG, "[alert] smtp_password_file \"%s\"", path);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int
send_mail(const pgark_config *cfg, const alert_event *ev, double deadline, pgark_err *err)
{
	char		msg[12288];
	char		host[512];
	char		from[300], addr[320], env[330];
	char		errbuf[CURL_ERROR_SIZE] = "";
	char		password[1024] = "";
	const char *l = cfg->alert_email;
	struct curl_slist *rcpts = NULL;
	upload		u;
	CURL	   *h;
	CURLcode	rc;
	int			has_user;

	alert_url_host(cfg->alert_smtp_url, host, sizeof(host));
	if (alert_mail(cfg, ev, msg, sizeof(msg)) != 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "alert e-mail through %s: message too long", host);
	if (cfg->alert_smtp_password_file[0] &&
		read_password(cfg->alert_smtp_password_file, password, sizeof(password), err) != 0)
		return -1;
	/* the envelope sender: the address inside <...>, or the whole setting */
	mail_from(cfg, ev->host, from, sizeof(from));
	{
		const char *lt = strchr(from, '<');
		const char *gt = lt ? strchr(lt, '>') : NULL;

		if (lt && gt)
			snprintf(env, sizeof(env), "%.*s", (int) (gt - lt + 1), lt);
		else
			snprintf(env, sizeof(env), "<%s>", from);
	}
	while (next_recipient(&l, addr, sizeof(addr)))
	{
		char		r[330];

		snprintf(r, sizeof(r), "<%s>", addr);
		rcpts = curl_slist_append(rcpts, r);
	}
	if ((h = curl_easy_init()) == NULL)
	{
		secure_zero(password, sizeof(password));
		curl_slist_free_all(rcpts);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "alert e-mail through %s: libcurl could not start", host);
	}
	u.p = msg;
	u.left = strlen(msg);
	common_opts(h, deadline, errbuf);
	curl_easy_setopt(h, CURLOPT_URL, cfg->alert_smtp_url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, env);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_INFILESIZE, (long) u.left);
	has_user = cfg->alert_smtp_user[0] != '\0' || url_has_userinfo(cfg->alert_smtp_url);
	if (cfg->alert_smtp_user[0])
	{
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->alert_smtp_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	}
	/* smtp://: STARTTLS when the server offers it; required before a password */
	if (strncmp(cfg->alert_smtp_url, "smtp://", 7) == 0)
		curl_easy_setopt(h, CURLOPT_USE_SSL, has_user ? (long) CURLUSESSL_ALL : (long) CURLUSESSL_TRY);
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpts);
	secure_zero(password, sizeof(password));
	if (rc != CURLE_OK)
		return curl_failed(err, "e-mail through", host, rc, errbuf);
	return 0;
}

int
alert_send(const pgark_config *cfg, const alert_event *ev, pgark_err *err)
{
	const char *why;
	int			no_library;
	double		deadline = now_ms() + 1000.0 * cfg->alert_timeout;
	pgark_err	e2;
	int			rc = 0;

	if (!alert_enabled(cfg) || ev->status == ALERT_NONE)
		return 0;
	if (curlapi_load(&why, &no_library) != 0)
	{
		if (no_library)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "alerts need libcurl (Debian: apt-get install libcurl4): %s",
						   why);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "alerts: %s", why);
	}
	if (cfg->alert_webhook[0] && send_webhook(cfg, ev, deadline, err) != 0)
		rc = -1;
	if (cfg->alert_email[0])
	{
		err_clear(&e2);
		if (now_ms() >= deadline)
			err_set(&e2, PGARK_ERR_TRANSIENT, 0, "alert e-mail not sent: [alert] timeout (%d s) used up",
					cfg->alert_timeout);
		else if (send_mail(cfg, ev, deadline, &e2) == 0)
			return rc;
		if (rc == 0)
			*err = e2;
		else
			append_msg(err, e2.msg);
		rc = -1;
	}
	return rc;
}

/*
 * Where the state goes when the state directory cannot be used (made by
 * another user, a full disk): /tmp/pgark-alert-<uid>, made 0700 and used only
 * if it is this user's own directory, so that rate limiting survives.
 */
static int
fallback_path(const char *path, char *out, size_t len, int make)
{
	char		dir[64];
	struct stat sb;
	int			n;

	snprintf(dir, sizeof(dir), "/tmp/pgark-alert-%lu", (unsigned long) geteuid());
	if (make && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
		return -1;
	n = snprintf(out, len, "%s/%s", dir, path_basename(path));
	return n > 0 && (size_t) n < len - 8 ? 0 : -1;
}

/* open and lock path's companion lock file: the fd, or -1 with serr */
static int
state_lock(const char *path, pgark_err *serr)
{
	char		lock[PATH_MAX + 8];
	int			fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return err_sys(serr, PGARK_ERR_IO, "alert state \"%s\"", lock);
	if (flock(fd, LOCK_EX) != 0)
	{
		err_sys(serr, PGARK_ERR_IO, "alert state \"%s\"", lock);
		close(fd);
		return -1;
	}
	return fd;
}

static uint64_t
text_sig(const char *text)
{
	uint64_t	h = UINT64_C(14695981039346656037);

	if (text == NULL)
		return 0;
	for (const char *c = text; *c; c++)
	{
		h ^= (unsigned char) *c;
		h *= UINT64_C(1099511628211);
	}
	return h | 1;				/* never 0, which means none */
}

int
alert_report(const pgark_config *cfg, const char *program, int failing, const char *message,
			 alert_status *sent, pgark_err *err)
{
	return alert_report_sig(cfg, program, failing, message, NULL, sent, err);
}

int
alert_report_sig(const pgark_config *cfg, const char *program, int failing, const char *message,
				 const char *signature, alert_status *sent, pgark_err *err)
{
	char		path[PATH_MAX], dir[PATH_MAX], fb[PATH_MAX];
	char		where[1200], host[256];
	alert_state st;
	alert_status what;
	alert_event ev;
	struct stat sb;
	int			have, fd;
	int			state_ok = 1;
	pgark_err	serr;
	int64_t		now = (int64_t) time(NULL);

	if (sent)
		*sent = ALERT_NONE;
	if (!alert_enabled(cfg))
		return 0;
	if (state_path(cfg, program, path, sizeof(path)) != 0)
		return err_set(err, PGARK_ERR_CONFIG, 0, "alert state directory: not set or too long");
	/* the common case, and a hot path for wal-push: no failure on record
	 * (in the state directory, nor where it goes when that cannot be used) */
	if (!failing && stat(path, &sb) != 0)
	{
		if (fallback_path(path, fb, sizeof(fb), 0) != 0 || stat(fb, &sb) != 0)
			return 0;
		snprintf(path, sizeof(path), "%s", fb);
	}

	memset(&st, 0, sizeof(st));
	err_clear(&serr);
	alert_state_dir(cfg, dir, sizeof(dir));
	if (failing && stat(dir, &sb) != 0 && mkdir_p(dir, 0700, &serr) != 0)
		fd = -1;
	else
		fd = state_lock(path, &serr);
	if (fd < 0 && failing && fallback_path(path, fb, sizeof(fb), 1) == 0)
	{
		pgark_err	e2;

		err_clear(&e2);
		if ((fd = state_lock(fb, &e2)) >= 0)
		{
			snprintf(path, sizeof(path), "%s", fb);
			err_clear(&serr);
		}
	}
	if (fd >= 0)
	{
		uint64_t	sig = failing ? text_sig(signature) : 0;

		have = state_read(path, &st);
		/* a failure of another kind than the one on record (a WARNING
		 * turned CRITICAL): a new alert at once */
		if (have && failing && sig != 0 && st.sig != sig)
			have = 0;
		what = alert_next(&st, have, failing, now, cfg->alert_repeat_after);
		if (failing)
			st.sig = sig;
		if (what == ALERT_RECOVERED)
		{
			if (unlink(path) != 0 && errno != ENOENT)
				err_sys(&serr, PGARK_ERR_IO, "alert state \"%s\"", path);
		}
		else if (failing && state_write(path, &st, &serr) != 0)
			state_ok = 0;
		close(fd);				/* releases the lock */
		if (serr.msg[0])
			state_ok = 0;
	}
	else
	{
		/* no state to be had: alert all the same, without rate limiting */
		state_ok = 0;
		if (!failing)
			return err_set(err, serr.kind, serr.sys_errno, "%s", serr.msg);
		what = alert_next(&st, 0, 1, now, cfg->alert_repeat_after);
	}

	if (what != ALERT_NONE)
	{
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		ev.program = program;
		ev.host = host;
		ev.repository = config_repo_where(cfg, where, sizeof(where));
		ev.status = what;
		ev.since = st.since;
		ev.time = now;
		ev.message = message ? message :
			what == ALERT_RECOVERED ? "works again" : "failed";
		ev.count = st.count;
		if (sent)
			*sent = what;
		if (alert_send(cfg, &ev, err) != 0)
		{
			if (!state_ok)
				append_msg(err, serr.msg);
			return -1;
		}
	}
	if (!state_ok)
		return err_set(err, serr.kind, serr.sys_errno, "%s%s", serr.msg,
					   what != ALERT_NONE ? " (alert sent without rate limiting)" : "");
	return 0;
}
