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
	char		repo_type[16];	/* "local" (s3 later) */
	char		repo_path[PATH_MAX];

	/* [crypto] */
	char		key_file[PATH_MAX];
	char		key_command[2048];
	int			key_command_timeout;	/* seconds */
	char		cipher[32];		/* "aes-256-gcm" (default) or "none" */

	/* [postgres] */
	char		pgdata[PATH_MAX];
	char		conninfo[1024];

	/* [archive] */
	char		spool[PATH_MAX];

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

#endif
