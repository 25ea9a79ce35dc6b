#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "alert.h"

typedef enum
{
	OPT_STRING,
	OPT_PATH,
	OPT_LOGLEVEL,
	OPT_SECONDS,				/* an int from 1 to 3600 */
	OPT_INT,					/* an int from min to max */
	OPT_BOOL,					/* on/off, true/false, yes/no, 1/0 */
	OPT_SIZE,					/* bytes, optional K/M/G suffix (binary), min..max */
	OPT_DURATION				/* seconds: a number with s, min, h, d or w (0: unset) */
} opt_type;

typedef struct opt_def
{
	const char *section;
	const char *key;
	opt_type	type;
	size_t		offset;
	size_t		size;
	int64_t		min;			/* OPT_INT, OPT_SIZE */
	int64_t		max;
} opt_def;

#define OPT(sec, key, type, field) \
	{ sec, key, type, offsetof(pgark_config, field), sizeof(((pgark_config *) 0)->field), 0, 0 }
#define OPT_RANGE(sec, key, type, field, lo, hi) \
	{ sec, key, type, offsetof(pgark_config, field), sizeof(((pgark_config *) 0)->field), lo, hi }

#define MIB (INT64_C(1024) * 1024)

static const opt_def options[] = {
	OPT("repo", "type", OPT_STRING, repo_type),
	OPT("repo", "path", OPT_PATH, repo_path),
	OPT("repo", "endpoint", OPT_STRING, s3_endpoint),
	OPT("repo", "bucket", OPT_STRING, s3_bucket),
	OPT("repo", "region", OPT_STRING, s3_region),
	OPT("repo", "prefix", OPT_STRING, s3_prefix),
	OPT("repo", "uri_style", OPT_STRING, s3_uri_style),
	OPT("repo", "access_key", OPT_STRING, s3_access_key),
	OPT("repo", "secret_key", OPT_STRING, s3_secret_key),
	OPT("repo", "session_token", OPT_STRING, s3_session_token),
	OPT("repo", "credentials_file", OPT_PATH, s3_credentials_file),
	OPT("repo", "ca_file", OPT_PATH, s3_ca_file),
	OPT("repo", "verify_tls", OPT_BOOL, s3_verify_tls),
	OPT("repo", "storage_class", OPT_STRING, s3_storage_class),
	OPT("repo", "sse", OPT_STRING, s3_sse),
	OPT("repo", "sse_kms_key_id", OPT_STRING, s3_sse_kms_key_id),
	OPT_RANGE("repo", "retries", OPT_INT, s3_retries, 0, 20),
	OPT_RANGE("repo", "connect_timeout", OPT_INT, s3_connect_timeout, 1, 600),
	OPT_RANGE("repo", "timeout", OPT_INT, s3_timeout, 1, 3600),
	OPT_RANGE("repo", "multipart_threshold", OPT_SIZE, s3_multipart_threshold, 5 * MIB, 5120 * MIB),
	OPT_RANGE("repo", "part_size", OPT_SIZE, s3_part_size, 5 * MIB, 5120 * MIB),
	OPT_RANGE("repo", "transfers", OPT_INT, s3_transfers, 1, 16),
	OPT("crypto", "key_file", OPT_PATH, key_file),
	OPT("crypto", "key_command", OPT_STRING, key_command),
	OPT("crypto", "key_command_timeout", OPT_SECONDS, key_command_timeout),
	OPT("crypto", "cipher", OPT_STRING, cipher),
	OPT("postgres", "pgdata", OPT_PATH, pgdata),
	OPT("postgres", "conninfo", OPT_STRING, conninfo),
	OPT("postgres", "bindir", OPT_PATH, bindir),
	OPT("archive", "spool", OPT_PATH, spool),
	OPT_RANGE("archive", "push_ahead", OPT_INT, push_ahead, 0, 64),
	OPT("archive", "push_helper", OPT_BOOL, push_helper),
	OPT_RANGE("archive", "fetch_ahead", OPT_INT, fetch_ahead, 0, 64),
	OPT_RANGE("backup", "workers", OPT_INT, workers, 0, 64),
	OPT("backup", "archive_timeout", OPT_SECONDS, archive_timeout),
	OPT("restore", "scratch_dir", OPT_PATH, scratch_dir),
	OPT_RANGE("restore", "scratch_reserve", OPT_SIZE, scratch_reserve, 0, (int64_t) 1 << 50),
	OPT("restore", "drill_timeout", OPT_DURATION, drill_timeout),
	OPT("restore", "scratch_user", OPT_STRING, scratch_user),
	OPT("crypto", "rotate_after", OPT_DURATION, rotate_after),
	OPT_RANGE("retention", "keep_last", OPT_INT, keep_last, 0, 100000),
	OPT_RANGE("retention", "keep_daily", OPT_INT, keep_daily, 0, 100000),
	OPT_RANGE("retention", "keep_weekly", OPT_INT, keep_weekly, 0, 100000),
	OPT_RANGE("retention", "keep_monthly", OPT_INT, keep_monthly, 0, 100000),
	OPT_RANGE("retention", "keep_yearly", OPT_INT, keep_yearly, 0, 1000),
	OPT("retention", "keep_within", OPT_DURATION, keep_within),
	OPT("retention", "pitr_window", OPT_DURATION, pitr_window),
	OPT_RANGE("retention", "dumps_keep_last", OPT_INT, dumps_keep_last, 0, 100000),
	OPT("retention", "dumps_keep_within", OPT_DURATION, dumps_keep_within),
	OPT("check", "backup_warn", OPT_DURATION, check_backup_warn),
	OPT("check", "backup_crit", OPT_DURATION, check_backup_crit),
	OPT("check", "archive_lag_warn", OPT_DURATION, check_archive_lag_warn),
	OPT("check", "archive_lag_crit", OPT_DURATION, check_archive_lag_crit),
	OPT("check", "free_warn", OPT_STRING, check_free_warn),
	OPT("check", "free_crit", OPT_STRING, check_free_crit),
	OPT("check", "verify_max_age", OPT_DURATION, check_verify_max_age),
	OPT("check", "drill_max_age", OPT_DURATION, check_drill_max_age),
	OPT("check", "dump_max_age", OPT_DURATION, check_dump_max_age),
	OPT("alert", "webhook", OPT_STRING, alert_webhook),
	OPT("alert", "email", OPT_STRING, alert_email),
	OPT("alert", "smtp_url", OPT_STRING, alert_smtp_url),
	OPT("alert", "smtp_user", OPT_STRING, alert_smtp_user),
	OPT("alert", "smtp_password_file", OPT_PATH, alert_smtp_password_file),
	OPT("alert", "from", OPT_STRING, alert_from),
	OPT("alert", "repeat_after", OPT_DURATION, alert_repeat_after),
	OPT_RANGE("alert", "timeout", OPT_INT, alert_timeout, 1, 300),
	OPT("alert", "state_dir", OPT_PATH, alert_state_dir),
	OPT("log", "level", OPT_LOGLEVEL, log_level),
	OPT("log", "audit", OPT_PATH, audit),
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

void
config_defaults(pgark_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->repo_type, sizeof(cfg->repo_type), "local");
	snprintf(cfg->cipher, sizeof(cfg->cipher), "aes-256-gcm");
	cfg->key_command_timeout = 30;
	snprintf(cfg->s3_uri_style, sizeof(cfg->s3_uri_style), "host");
	cfg->s3_verify_tls = 1;
	cfg->s3_retries = 4;
	cfg->s3_connect_timeout = 10;
	cfg->s3_timeout = 60;
	cfg->s3_multipart_threshold = 64 * MIB;
	cfg->s3_part_size = 16 * MIB;
	cfg->s3_transfers = 2;
	cfg->push_ahead = 16;
	cfg->push_helper = 1;
	cfg->fetch_ahead = 8;
	cfg->archive_timeout = 60;
	cfg->scratch_reserve = 1024 * MIB;
	cfg->drill_timeout = 12 * 3600;
	cfg->log_level = LOG_LEVEL_INFO;
	/* a nightly backup, verified after each, checked hourly */
	cfg->check_backup_warn = 26 * 3600;
	cfg->check_backup_crit = 50 * 3600;
	cfg->check_archive_lag_warn = 10 * 60;
	cfg->check_archive_lag_crit = 3600;
	snprintf(cfg->check_free_warn, sizeof(cfg->check_free_warn), "10%%");
	snprintf(cfg->check_free_crit, sizeof(cfg->check_free_crit), "5%%");
	cfg->check_verify_max_age = 8 * 86400;
	cfg->alert_repeat_after = 3600;
	cfg->alert_timeout = 10;
}

int
config_parse_space(const char *value, double *percent, uint64_t *bytes)
{
	char	   *end;
	unsigned long long v;
	uint64_t	mult = 1;

	*percent = -1;
	*bytes = 0;
	errno = 0;
	if (value[0] < '0' || value[0] > '9')
		return -1;
	v = strtoull(value, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "%") == 0)
	{
		if (v > 100)
			return -1;
		*percent = (double) v;
		return 0;
	}
	switch (*end)
	{
		case 'K':
			mult = 1024;
			break;
		case 'M':
			mult = 1024 * 1024;
			break;
		case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		case 'T':
			mult = UINT64_C(1024) * 1024 * 1024 * 1024;
			break;
		case '\0':
			break;
		default:
			return -1;
	}
	if (mult > 1)
		end++;
	if (*end != '\0' || v > UINT64_MAX / mult)
		return -1;
	*bytes = v * mult;
	return 0;
}

static const opt_def *
find_option(const char *section, const char *key, int *section_known)
{
	*section_known = 0;
	for (size_t i = 0; i < NOPTIONS; i++)
	{
		if (strcmp(options[i].section, section) != 0)
			continue;
		*section_known = 1;
		if (strcmp(options[i].key, key) == 0)
			return &options[i];
	}
	return NULL;
}

int
config_parse_duration(const char *value, int64_t *out)
{
	static const struct
	{
		const char *unit;
		int64_t		secs;
	}			units[] = {
		{"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}
	};
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || errno != 0 || v < 0)
		return -1;
	if (*end == '\0')
	{
		/* a bare number: only 0 (unset) is unambiguous */
		if (v != 0)
			return -1;
		*out = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
		{
			if (v > INT64_MAX / units[i].secs / 1000)
				return -1;
			*out = (int64_t) v * units[i].secs;
			return 0;
		}
	return -1;
}

/* Store value into the field; msg gets the reason on failure. */
static int
set_value(pgark_config *cfg, const opt_def *o, const char *value, char *msg, size_t msglen)
{
	char	   *field = (char *) cfg + o->offset;

	switch (o->type)
	{
		case OPT_STRING:
		case OPT_PATH:
			if (strlen(value) >= o->size)
			{
				snprintf(msg, msglen, "value too long (at most %zu characters)", o->size - 1);
				return -1;
			}
			if (o->type == OPT_PATH && value[0] != '\0' && value[0] != '/')
			{
				snprintf(msg, msglen, "\"%s\" is not an absolute path", value);
				return -1;
			}
			/* values from a fixed list are checked here, where the line is known */
			if (o->offset == offsetof(pgark_config, repo_type) &&
				strcmp(value, "local") != 0 && strcmp(value, "s3") != 0)
			{
				snprintf(msg, msglen, "\"%s\" is not a repository type (local, s3)", value);
				return -1;
			}
			if (o->offset == offsetof(pgark_config, s3_uri_style) &&
				strcmp(value, "host") != 0 && strcmp(value, "path") != 0)
			{
				snprintf(msg, msglen, "\"%s\" is not a URI style (host: https://BUCKET.ENDPOINT/KEY, "
						 "path: https://ENDPOINT/BUCKET/KEY)", value);
				return -1;
			}
			if (o->offset == offsetof(pgark_config, s3_sse) && value[0] != '\0' &&
				strcmp(value, "AES256") != 0 && strcmp(value, "aws:kms") != 0)
			{
				snprintf(msg, msglen, "\"%s\" is not a server-side encryption (AES256, aws:kms)", value);
				return -1;
			}
			if (o->offset == offsetof(pgark_config, check_free_warn) ||
				o->offset == offsetof(pgark_config, check_free_crit))
			{
				double		pct;
				uint64_t	bytes;

				if (config_parse_space(value, &pct, &bytes) != 0)
				{
					snprintf(msg, msglen, "\"%s\" is not free space (a percentage such as 10%%, a size "
							 "such as 5G with K, M, G or T, or 0 for none)", value);
					return -1;
				}
			}
			if (o->offset == offsetof(pgark_config, cipher) &&
				strcmp(value, "aes-256-gcm") != 0 && strcmp(value, "none") != 0)
			{
				snprintf(msg, msglen, "\"%s\" is not a cipher (aes-256-gcm, or none for tests)", value);
				return -1;
			}
			snprintf(field, o->size, "%s", value);
			return 0;
		case OPT_SECONDS:
			{
				char	   *end;
				long		v = strtol(value, &end, 10);

				if (value[0] < '0' || value[0] > '9' || *end != '\0' || v < 1 || v > 3600)
				{
					snprintf(msg, msglen, "\"%s\" is not a number of seconds from 1 to 3600", value);
					return -1;
				}
				*(int *) (void *) field = (int) v;
				return 0;
			}
		case OPT_INT:
			{
				char	   *end;
				long long	v;

				errno = 0;
				v = strtoll(value, &end, 10);
				if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 || v < o->min || v > o->max)
				{
					snprintf(msg, msglen, "\"%s\" is not a whole number from %lld to %lld", value,
							 (long long) o->min, (long long) o->max);
					return -1;
				}
				*(int *) (void *) field = (int) v;
				return 0;
			}
		case OPT_SIZE:
			{
				char	   *end;
				unsigned long long v;
				uint64_t	mult = 1;

				errno = 0;
				v = strtoull(value, &end, 10);
				if (*end == 'K' || *end == 'k')
					mult = 1024, end++;
				else if (*end == 'M')
					mult = 1024 * 1024, end++;
				else if (*end == 'G')
					mult = 1024 * 1024 * 1024, end++;
				if (mult > 1 && end[0] == 'i' && end[1] == 'B')
					end += 2;
				else if (mult > 1 && end[0] == 'B')
					end++;
				if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
					v > UINT64_MAX / mult || v * mult < (uint64_t) o->min || v * mult > (uint64_t) o->max)
				{
					snprintf(msg, msglen, "\"%s\" is not a size from %lld MiB to %lld MiB (bytes, or with "
							 "a K, M or G suffix)", value, (long long) (o->min / MIB), (long long) (o->max / MIB));
					return -1;
				}
				*(uint64_t *) (void *) field = v * mult;
				return 0;
			}
		case OPT_DURATION:
			if (config_parse_duration(value, (int64_t *) (void *) field) != 0)
			{
				snprintf(msg, msglen, "\"%s\" is not a duration (a whole number with a unit: "
						 "s, min, h, d or w, e.g. 36h or 14d; 0 for none)", value);
				return -1;
			}
			return 0;
		case OPT_BOOL:
			{
				static const char *const yes[] = {"on", "true", "yes", "1"};
				static const char *const no[] = {"off", "false", "no", "0"};

				for (int i = 0; i < 4; i++)
				{
					if (strcmp(value, yes[i]) == 0)
					{
						*(int *) (void *) field = 1;
						return 0;
					}
					if (strcmp(value, no[i]) == 0)
					{
						*(int *) (void *) field = 0;
						return 0;
					}
				}
				snprintf(msg, msglen, "\"%s\" is not on or off", value);
				return -1;
			}
		case OPT_LOGLEVEL:
			{
				static const char *const names[] = {"error", "warning", "info", "debug"};

				for (int i = 0; i < 4; i++)
					if (strcmp(value, names[i]) == 0)
					{
						*(log_level *) (void *) field = (log_level) i;
						return 0;
					}
				snprintf(msg, msglen, "\"%s\" is not a log level (error, warning, info, debug)", value);
				return -1;
			}
	}
	snprintf(msg, msglen, "internal error");
	return -1;
}

typedef struct parse_ctx
{
	pgark_config *cfg;
	FILE	   *fp;
	const char *path;
	int			lineno;
	int			failed;
	int			failed_line;	/* line of the handler's error */
	mode_t		mode;			/* of the file */
	char		seen[NOPTIONS];
	char		msg[768];
} parse_ctx;

/* inih reader: one line per call, leading blanks removed (so an indented
 * line is never taken as a continuation of the previous value). */
static char *
reader(char *buf, int num, void *stream)
{
	parse_ctx  *ctx = stream;
	char		line[4096];
	char	   *p;
	size_t		len;

	if (ctx->failed)
		return NULL;
	if (fgets(line, sizeof(line), ctx->fp) == NULL)
		return NULL;
	ctx->lineno++;
	len = strlen(line);
	if (len == sizeof(line) - 1 && line[len - 1] != '\n')
	{
		snprintf(ctx->msg, sizeof(ctx->msg), "%s:%d: line too long", ctx->path, ctx->lineno);
		ctx->failed = 1;
		ctx->failed_line = ctx->lineno;
		return NULL;
	}
	p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strlen(p) >= (size_t) num)
	{
		snprintf(ctx->msg, sizeof(ctx->msg), "%s:%d: line too long (at most %d characters)",
				 ctx->path, ctx->lineno, num - 2);
		ctx->failed = 1;
		ctx->failed_line = ctx->lineno;
		return NULL;
	}
	memcpy(buf, p, strlen(p) + 1);
	return buf;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	parse_ctx  *ctx = user;
	int			section_known;
	const opt_def *o;
	char		why[512];

	if (ctx->failed)
		return 0;
	o = find_option(section, name, &section_known);
	if (o == NULL)
	{
		if (!section_known)
			snprintf(ctx->msg, sizeof(ctx->msg), "%s:%d: unknown section [%s] (key \"%s\")",
					 ctx->path, ctx->lineno, section, name);
		else
			snprintf(ctx->msg, sizeof(ctx->msg), "%s:%d: [%s] %s: unknown setting",
					 ctx->path, ctx->lineno, section, name);
		ctx->failed = 1;
		ctx->failed_line = ctx->lineno;
		return 0;
	}
	if (ctx->seen[o - options])
	{
		snprintf(ctx->msg, sizeof(ctx->msg), "%s:%d: [%s] %s: set more than once",
				 ctx->path, ctx->lineno, section, name);
		ctx->failed = 1;
		ctx->failed_line = ctx->lineno;
		return 0;
	}
	ctx->seen[o - options] = 1;
	if (set_value(ctx->cfg, o, value, why, sizeof(why)) != 0)
	{
		snprintf(ctx->msg, sizeof(ctx->msg), "%s:%d: [%s] %s: %s",
				 ctx->path, ctx->lineno, section, name, why);
		ctx->failed = 1;
		ctx->failed_line = ctx->lineno;
		return 0;
	}
	return 1;
}

static int
apply_environment(pgark_config *cfg, pgark_err *err)
{
	for (size_t i = 0; i < NOPTIONS; i++)
	{
		char		var[128];
		const char *v;
		char		why[512];

		snprintf(var, sizeof(var), "PGARK_%s_%s", options[i].section, options[i].key);
		for (char *p = var; *p; p++)
			*p = (char) toupper((unsigned char) *p);
		v = getenv(var);
		if (v == NULL)
			continue;
		if (set_value(cfg, &options[i], v, why, sizeof(why)) != 0)
			return err_set(err, PGARK_ERR_CONFIG, 0, "environment %s: %s", var, why);
	}
	return 0;
}

int
config_load(pgark_config *cfg, const char *path, pgark_err *err)
{
	parse_ctx	ctx;
	int			rc;
	int			explicit = 1;

	config_defaults(cfg);
	if (path == NULL || path[0] == '\0')
		path = getenv("PGARK_CONFIG");
	if (path == NULL || path[0] == '\0')
	{
		path = PGARK_DEFAULT_CONFIG;
		explicit = 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.path = path;
	ctx.fp = fopen(path, "r");
	if (ctx.fp == NULL)
	{
		if (errno == ENOENT && !explicit)
			return err_set(err, PGARK_ERR_CONFIG, ENOENT,
						   "no configuration file: %s does not exist (give one with --config FILE or PGARK_CONFIG)",
						   path);
		return err_sys(err, PGARK_ERR_CONFIG, "could not open configuration file \"%s\"", path);
	}
	snprintf(cfg->source, sizeof(cfg->source), "%s", path);
	{
		struct stat sb;

		if (fstat(fileno(ctx.fp), &sb) == 0)
			ctx.mode = sb.st_mode;
	}
	/* a ';' inside a value (a key_command pipeline) is part of it, and an
	 * indented line is never a continuation: comments are whole lines */
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	rc = ini_parse_stream(reader, &ctx, handler, &ctx);
	if (ferror(ctx.fp) && !ctx.failed)
	{
		fclose(ctx.fp);
		return err_sys(err, PGARK_ERR_CONFIG, "could not read configuration file \"%s\"", path);
	}
	fclose(ctx.fp);
	/*
	 * inih goes on after a syntax error (and reports the first one's line);
	 * a key after a broken "[section" line then fails in the handler, later:
	 * report the syntax error, it is the cause.
	 */
	if (ctx.failed && !(rc > 0 && rc < ctx.failed_line))
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s", ctx.msg);
	if (rc != 0)
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s:%d: syntax error (expected [section], key = value, or a # comment)",
					   path, rc > 0 ? rc : ctx.lineno);
	/* a secret in the file: the file must not be readable by everyone */
	if ((cfg->s3_secret_key[0] || cfg->s3_session_token[0]) && (ctx.mode & S_IRWXO))
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s holds [repo] secret_key (or session_token) but other users can read it "
					   "(mode %04o): chmod o-rwx %s, or give the credentials in credentials_file or "
					   "the AWS_* environment variables", path, (unsigned) (ctx.mode & 07777), path);
	/* alert settings that may carry a secret: a webhook's path or query (its
	 * token, often), a user or password in either URL */
	if (ctx.mode & S_IRWXO)
	{
		const char *w = strstr(cfg->alert_webhook, "://");
		const char *m = strstr(cfg->alert_smtp_url, "://");
		const char *wpath = w ? strpbrk(w + 3, "/?#") : NULL;
		size_t		wauth = w ? (wpath ? (size_t) (wpath - (w + 3)) : strlen(w + 3)) : 0;
		size_t		mauth = m ? strcspn(m + 3, "/?#") : 0;

		if ((w && (memchr(w + 3, '@', wauth) != NULL || (wpath && strcmp(wpath, "/") != 0))) ||
			(m && memchr(m + 3, '@', mauth) != NULL))
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s holds an [alert] URL with a path, query or user (a webhook's token, a "
						   "password) but other users can read it (mode %04o): chmod o-rwx %s",
						   path, (unsigned) (ctx.mode & 07777), path);
	}
	if (apply_environment(cfg, err) != 0)
		return -1;
	return config_validate(cfg, err);
}

int
config_set(pgark_config *cfg, const char *assignment, pgark_err *err)
{
	char		section[64], key[64];
	const char *dot = strchr(assignment, '.');
	const char *eq = strchr(assignment, '=');
	const opt_def *o;
	int			known;
	char		why[512];

	if (dot == NULL || eq == NULL || dot > eq || (size_t) (dot - assignment) >= sizeof(section) ||
		(size_t) (eq - dot - 1) >= sizeof(key))
		return err_set(err, PGARK_ERR_USAGE, 0, "\"%s\": expected section.key=value", assignment);
	snprintf(section, sizeof(section), "%.*s", (int) (dot - assignment), assignment);
	snprintf(key, sizeof(key), "%.*s", (int) (eq - dot - 1), dot + 1);
	o = find_option(section, key, &known);
	if (o == NULL)
		return err_set(err, PGARK_ERR_USAGE, 0, "[%s] %s: unknown setting", section, key);
	if (set_value(cfg, o, eq + 1, why, sizeof(why)) != 0)
		return err_set(err, PGARK_ERR_USAGE, 0, "[%s] %s: %s", section, key, why);
	return 0;
}

const char *
config_repo_where(const pgark_config *cfg, char *buf, size_t len)
{
	if (strcmp(cfg->repo_type, "s3") == 0)
		snprintf(buf, len, "s3://%s%s%s", cfg->s3_bucket, cfg->s3_prefix[0] ? "/" : "", cfg->s3_prefix);
	else
		snprintf(buf, len, "%s", cfg->repo_path);
	return buf;
}

const char *
config_repo_id(const pgark_config *cfg, char *buf, size_t len)
{
	char		where[PATH_MAX + 1024];

	/* the endpoint too: one bucket name on two S3 services is two repositories */
	snprintf(buf, len, "%s\n%s\n%s", cfg->repo_type, strcmp(cfg->repo_type, "s3") == 0 ? cfg->s3_endpoint : "",
			 config_repo_where(cfg, where, sizeof(where)));
	return buf;
}

int
config_cipher_is_none(const pgark_config *cfg)
{
	return strcmp(cfg->cipher, "none") == 0;
}

static int
s3_name_chars_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
			  strchr(extra, *s) != NULL))
			return 0;
	return 1;
}

static int
config_validate_s3(pgark_config *cfg, const char *src, pgark_err *err)
{
	if (cfg->repo_path[0])
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] path is a setting of type = local; an S3 repository is named by bucket "
					   "and prefix", src);
	if (cfg->s3_bucket[0] == '\0')
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [repo] bucket is required for type = s3", src);
	/* DNS-compatible bucket names (S3's rules, without the exceptions) */
	if (strlen(cfg->s3_bucket) < 3 || !s3_name_chars_ok(cfg->s3_bucket, ".-") ||
		cfg->s3_bucket[0] == '-' || cfg->s3_bucket[0] == '.')
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] bucket: \"%s\" is not a bucket name (3 to 63 letters, digits, '.' and '-')",
					   src, cfg->s3_bucket);
	/* the prefix is a folder inside the bucket: the same characters as object names */
	if (!s3_name_chars_ok(cfg->s3_prefix, "._-/") || strstr(cfg->s3_prefix, "//") != NULL ||
		strstr(cfg->s3_prefix, "/.") != NULL || cfg->s3_prefix[0] == '.')
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] prefix: \"%s\" may only hold letters, digits, '.', '_', '-' and single '/' "
					   "(no component starting with '.')", src, cfg->s3_prefix);
	if (cfg->s3_region[0] == '\0')
		snprintf(cfg->s3_region, sizeof(cfg->s3_region), "us-east-1");
	if (!s3_name_chars_ok(cfg->s3_region, "-_"))
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [repo] region: \"%s\" is not a region name",
					   src, cfg->s3_region);
	if (cfg->s3_endpoint[0] && strncmp(cfg->s3_endpoint, "https://", 8) != 0 &&
		strncmp(cfg->s3_endpoint, "http://", 7) != 0)
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] endpoint: \"%s\" must start with https:// (or http://)", src, cfg->s3_endpoint);
	if ((cfg->s3_access_key[0] != '\0') != (cfg->s3_secret_key[0] != '\0'))
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] access_key and secret_key go together: set both or neither", src);
	if (cfg->s3_access_key[0] && cfg->s3_credentials_file[0])
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] access_key and credentials_file are both set; keep one", src);
	if (strcmp(cfg->s3_sse, "aws:kms") != 0 && cfg->s3_sse_kms_key_id[0])
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [repo] sse_kms_key_id needs sse = aws:kms", src);
	if (cfg->s3_part_size > cfg->s3_multipart_threshold)
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [repo] part_size (%llu) is larger than multipart_threshold (%llu)", src,
					   (unsigned long long) cfg->s3_part_size, (unsigned long long) cfg->s3_multipart_threshold);
	return 0;
}

int
config_validate(pgark_config *cfg, pgark_err *err)
{
	const char *src = cfg->source[0] ? cfg->source : "configuration";

	if (strcmp(cfg->repo_type, "local") == 0)
	{
		if (cfg->repo_path[0] == '\0')
			return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [repo] path is required for type = local", src);
		if (cfg->s3_bucket[0] || cfg->s3_endpoint[0] || cfg->s3_access_key[0] || cfg->s3_secret_key[0])
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [repo] bucket/endpoint/access_key/secret_key are settings of type = s3, "
						   "but type = local", src);
	}
	else if (strcmp(cfg->repo_type, "s3") == 0)
	{
		if (config_validate_s3(cfg, src, err) != 0)
			return -1;
	}
	else
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s: [repo] type: \"%s\" is not a repository type (local, s3)",
					   src, cfg->repo_type);
	if ((cfg->check_backup_crit && cfg->check_backup_warn > cfg->check_backup_crit) ||
		(cfg->check_archive_lag_crit && cfg->check_archive_lag_warn > cfg->check_archive_lag_crit))
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [check] a _warn threshold is longer than its _crit one (backup_warn %lld s, "
					   "backup_crit %lld s, archive_lag_warn %lld s, archive_lag_crit %lld s)", src,
					   (long long) cfg->check_backup_warn, (long long) cfg->check_backup_crit,
					   (long long) cfg->check_archive_lag_warn, (long long) cfg->check_archive_lag_crit);
	if (strcmp(cfg->cipher, "aes-256-gcm") != 0 && strcmp(cfg->cipher, "none") != 0)
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "%s: [crypto] cipher: \"%s\" is not a cipher (aes-256-gcm, or none for tests)",
					   src, cfg->cipher);
	if (!config_cipher_is_none(cfg))
	{
		if (cfg->key_file[0] && cfg->key_command[0])
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [crypto] key_file and key_command are both set; keep one", src);
		if (!cfg->key_file[0] && !cfg->key_command[0])
			return err_set(err, PGARK_ERR_CONFIG, 0,
						   "%s: [crypto] key_file (or key_command) is required to encrypt; make a key with key-gen",
						   src);
	}
	if (alert_validate(cfg, src, err) != 0)
		return -1;
	return 0;
}
