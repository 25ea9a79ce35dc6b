#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char *log_program = "pgark";
static log_level log_threshold = LOG_LEVEL_INFO;

void
log_init(const char *program, log_level level)
{
	log_program = program;
	log_threshold = level;
}

void
log_set_level(log_level level)
{
	log_threshold = level;
}

log_level
log_get_level(void)
{
	return log_threshold;
}

static void log_v(log_level level, const char *tag, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void
log_v(log_level level, const char *tag, const char *fmt, va_list ap)
{
	char		buf[2048];
	int			n;

	if (level > log_threshold)
		return;
	n = snprintf(buf, sizeof(buf), "%s: %s", log_program, tag);
	if (n < 0 || (size_t) n >= sizeof(buf))
		return;
	vsnprintf(buf + n, sizeof(buf) - (size_t) n, fmt, ap);
	/* one write so concurrent programs do not interleave inside a line */
	n = (int) strlen(buf);
	if ((size_t) n < sizeof(buf) - 1)
		buf[n++] = '\n';
	else
		buf[sizeof(buf) - 2] = '\n', n = (int) sizeof(buf) - 1;
	if (write(STDERR_FILENO, buf, (size_t) n) < 0)
		return;
}

#define LOGFN(fn, lvl, tag) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_v(lvl, tag, fmt, ap); \
		va_end(ap); \
	}

LOGFN(log_error, LOG_LEVEL_ERROR, "ERROR: ")
LOGFN(log_warning, LOG_LEVEL_WARNING, "WARNING: ")
LOGFN(log_info, LOG_LEVEL_INFO, "")
LOGFN(log_debug, LOG_LEVEL_DEBUG, "DEBUG: ")

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t		n;
	unsigned	lo = 0x80, hi = 0xBF;

	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
	{
		n = 3;
		if (p[0] == 0xE0)
			lo = 0xA0;
		else if (p[0] == 0xED)
			hi = 0x9F;
	}
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
	{
		n = 4;
		if (p[0] == 0xF0)
			lo = 0x90;
		else if (p[0] == 0xF4)
			hi = 0x8F;
	}
	else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

void
json_escape(const char *in, char *out, size_t outlen)
{
	size_t		o = 0;
	size_t		n;

	if (outlen == 0)
		return;
	for (const unsigned char *p = (const unsigned char *) (in ? in : ""); *p && o + 7 < outlen; p++)
	{
		switch (*p)
		{
			case '"': out[o++] = '\\'; out[o++] = '"'; break;
			case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
			case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
			case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
			case '\t': out[o++] = '\\'; out[o++] = 't'; break;
			default:
				if (*p < 0x20)
					o += (size_t) snprintf(out + o, outlen - o, "\\u%04x", *p);
				else if (*p < 0x80)
					out[o++] = (char) *p;
				else if ((n = utf8_len(p)) > 0 && o + n + 7 < outlen)
				{
					memcpy(out + o, p, n);
					o += n;
					p += n - 1;
				}
				else
				{
					/* not UTF-8 (a label typed in another encoding): JSON
					 * must be, so U+FFFD stands in for the byte */
					memcpy(out + o, "\\ufffd", 6);
					o += 6;
				}
		}
	}
	out[o] = '\0';
}

int
audit_append(const char *path, const audit_rec *r, pgark_err *err)
{
	char		line[4096];
	char		ts[40], rawhost[256], host[600], object[600], detail[1500];
	int			fd, n;

	iso8601_now(ts, sizeof(ts));
	if (gethostname(rawhost, sizeof(rawhost)) != 0)
		snprintf(rawhost, sizeof(rawhost), "?");
	rawhost[sizeof(rawhost) - 1] = '\0';
	json_escape(rawhost, host, sizeof(host));
	json_escape(r->object, object, sizeof(object));
	json_escape(r->detail, detail, sizeof(detail));
	n = snprintf(line, sizeof(line),
				 "{\"time\":\"%s\",\"host\":\"%s\",\"pid\":%d,\"program\":\"%s\",\"action\":\"%s\","
				 "\"object\":\"%s\",\"bytes\":%" PRIu64 ",\"stored\":%" PRIu64 ",\"result\":\"%s\","
				 "\"duration_ms\":%.1f%s%s%s}\n",
				 ts, host, (int) getpid(), r->program, r->action, object, r->bytes, r->stored,
				 r->result, r->duration_ms,
				 r->detail ? ",\"detail\":\"" : "", r->detail ? detail : "", r->detail ? "\"" : "");
	if (n < 0 || (size_t) n >= sizeof(line))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "audit record too long");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open audit log %s", path);
	if (write_full(fd, line, (size_t) n) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write audit log %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
