/*
 * config.h — pgark's configuration: an INI file (inih), then PGARK_<SECTION>_<KEY>
 * environment variables, then command-line overrides, all validated in one
 * place. Errors name the file, the line and the [section] key.
 */
#ifndef PGARK_CONFIG_H
#define PGARK_CONFIG_H

#include <limits.h>
#include <stdint.h>

#include "err.h"

#define PGARK_DEFAULT_CONFIG "/etc/pgark/pgark.conf"

typedef enum log_level
{
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3
} log_level;

typedef struct pgark_config
{
	char		source[PATH_MAX];	/* file it was read from, "" if none */

	/* [repo] */
	char		repo_type[16];	/* "local" or "s3" */
	char		repo_path[PATH_MAX];	/* local */

	/* [repo] with type = s3 (see store_s3.c) */
	char		s3_endpoint[512];	/* "" = https://s3.<region>.amazonaws.com */
	char		s3_bucket[64];
	char		s3_region[64];
	char		s3_prefix[512];
	char		s3_uri_style[8];	/* "host" or "path" */
	char		s3_access_key[256];
	char		s3_secret_key[256];
	char		s3_session_token[4096];
	char		s3_credentials_file[PATH_MAX];
	char		s3_ca_file[PATH_MAX];
	int			s3_verify_tls;
	char		s3_storage_class[64];
	char		s3_sse[16];		/* "", "AES256" or "aws:kms" */
	char		s3_sse_kms_key_id[256];
	int			s3_retries;		/* attempts after the first */
	int			s3_connect_timeout; /* seconds */
	int			s3_timeout;		/* seconds without progress */
	uint64_t	s3_multipart_threshold; /* bytes */
	uint64_t	s3_part_size;	/* bytes */
	int			s3_transfers;	/* background uploads at once */

	/* [crypto] */
	char		key_file[PATH_MAX];
	char		key_command[2048];
	int			key_command_timeout;	/* seconds */
	char		cipher[32];		/* "aes-256-gcm" (default) or "none" */
	int64_t		rotate_after;	/* seconds: repo-check warns when the master key is older; 0 off */

	/* [postgres] */
	char		pgdata[PATH_MAX];
	char		conninfo[1024];
	char		bindir[PATH_MAX];	/* pg_dump's directory, and a drill's server's; "" = /usr/lib/postgresql/<major>/bin */

	/* [archive] */
	char		spool[PATH_MAX];	/* "": no look-ahead, no prefetch */
	int			push_ahead;		/* .ready segments wal-push stores ahead; 0 off */
	int			push_helper;	/* more .ready than that: a detached helper stores the rest */
	int			fetch_ahead;	/* segments wal-fetch prefetches; 0 off */

	/* [backup] */
	int			workers;		/* threads for base-push / pitr-prepare; 0 = one per CPU */
	int			archive_timeout;	/* seconds base-push waits for its stop segment */

	/* [restore] scratch instances (lib/scratch.h: table-restore, restore drills) */
	char		scratch_dir[PATH_MAX];	/* "" = <[archive] spool>/scratch, else $TMPDIR or /tmp */
	uint64_t	scratch_reserve;	/* bytes needed beyond the backup's size */
	int64_t		drill_timeout;	/* seconds a restore drill waits for recovery to end; 0 = no limit */
	char		scratch_user[64];	/* the role scratch instances are connected as; "" = the
									 * OS user's, else postgres, else the bootstrap superuser */

	/* [retention] (repo-expire); 0 = not set */
	int			keep_last;		/* the newest N backups */
	int			keep_daily;		/* the newest backup of each of the N latest days with one */
	int			keep_weekly;	/* ... ISO weeks */
	int			keep_monthly;
	int			keep_yearly;
	int64_t		keep_within;	/* seconds: every backup started within it */
	int64_t		pitr_window;	/* seconds: how far back point-in-time recovery must reach */
	int			dumps_keep_last;	/* logical dumps: the newest N of each database (and kind) */
	int64_t		dumps_keep_within;	/* seconds: every dump started within it */

	/* [check] (repo-check): warning and critical thresholds; 0 = not checked */
	int64_t		check_backup_warn, check_backup_crit;	/* seconds: age of the newest usable backup */
	int64_t		check_archive_lag_warn, check_archive_lag_crit; /* seconds WAL waits to be archived */
	char		check_free_warn[32], check_free_crit[32];	/* "10%" or a size ("5G"); "0" off */
	int64_t		check_verify_max_age;	/* seconds: the last repo-verify result */
	int64_t		check_drill_max_age;	/* seconds: the last restore drill; 0 = none required */
	int64_t		check_dump_max_age; /* seconds: each database's newest dump; 0 = not checked */
	/* [alert] (alert.c) */
	char		alert_webhook[2048];	/* http(s) URL for a JSON POST; "" off */
	char		alert_email[1024];	/* recipients, comma-separated; "" off */
	char		alert_smtp_url[1024];	/* smtp:// or smtps:// */
	char		alert_smtp_user[256];
	char		alert_smtp_password_file[PATH_MAX];
	char		alert_from[256];	/* "" = pgark@<host> */
	int64_t		alert_repeat_after;	/* seconds between reminders while failing; 0 none */
	int			alert_timeout;	/* seconds for all of one alert's sending */
	char		alert_state_dir[PATH_MAX];	/* "" = <[archive] spool>/alert */

	/* [log] */
	log_level	log_level;
	char		audit[PATH_MAX];
} pgark_config;

/* Defaults only. */
void		config_defaults(pgark_config *cfg);

/*
 * Load path (NULL: $PGARK_CONFIG, else /etc/pgark/pgark.conf), apply the
 * environment, validate. A missing default file is an error that says how to
 * name one. Unknown sections and keys are errors: a typo in a backup tool's
 * configuration must not pass silently.
 */
int			config_load(pgark_config *cfg, const char *path, pgark_err *err);

/* Set one "section.key=value" (command line, tests). */
int			config_set(pgark_config *cfg, const char *assignment, pgark_err *err);

/* Check the combination of settings (called by config_load). */
int			config_validate(pgark_config *cfg, pgark_err *err);

int			config_cipher_is_none(const pgark_config *cfg);

/* "36h", "14d", "2w", "90min", "45s" or "0" to seconds; -1 if not one. */
int			config_parse_duration(const char *value, int64_t *out);

/* "10%" (percent of the filesystem) or a size with K, M, G or T ("5G"), or
 * "0" (off): *percent >= 0 for a percentage, else *bytes; -1 if not one. */
int			config_parse_space(const char *value, double *percent, uint64_t *bytes);

/* The repository for messages: its path, or s3://bucket/prefix. */
const char *config_repo_where(const pgark_config *cfg, char *buf, size_t len);
/* Which repository cfg names, as text: its type, the S3 endpoint (for s3)
 * and config_repo_where, one per line. The same text, the same place. */
const char *config_repo_id(const pgark_config *cfg, char *buf, size_t len);

#endif
