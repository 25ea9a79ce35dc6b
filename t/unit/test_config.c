/*
 * test_config.c — configuration loading and validation (lib/config.h).
 * A config error must name the file, the line and the [section] key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "tap.h"
#include "testutil.h"

static char dir[1024];

static const char *const env_vars[] = {
	"PGARK_CONFIG", "PGARK_REPO_TYPE", "PGARK_REPO_PATH", "PGARK_CRYPTO_KEY_FILE",
	"PGARK_CRYPTO_KEY_COMMAND", "PGARK_CRYPTO_CIPHER", "PGARK_POSTGRES_PGDATA",
	"PGARK_POSTGRES_CONNINFO", "PGARK_ARCHIVE_SPOOL", "PGARK_LOG_LEVEL", "PGARK_LOG_AUDIT",
};

static void
clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

/* Write dir/<name> and return its path (static buffer, one at a time). */
static const char *
conf_file(const char *name, const char *content)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_str(path, content);
	return path;
}

#define GOOD_REPO "[repo]\ntype = local\npath = /var/lib/pgark\n"
#define GOOD_KEY "[crypto]\nkey_file = /etc/pgark/master.key\n"
#define GOOD_S3 "[repo]\ntype = s3\n"

/*
 * The file must be refused as CONFIG, the message naming the file, with
 * "file:LINE:" when line > 0, and containing each of the needles.
 */
static void
refused(const char *what, const char *content, int line, const char *needle1, const char *needle2)
{
	pgark_config cfg;
	pgark_err	err;
	const char *path;
	char		name[64];
	char		loc[4300];
	static int	seq;

	snprintf(name, sizeof(name), "refused-%02d.conf", ++seq);
	path = conf_file(name, content);
	err_clear(&err);
	if (!is_int(config_load(&cfg, path, &err), -1, "refused: %s", what))
		return;
	is_kind(err, PGARK_ERR_CONFIG, "... as a config error");
	if (line > 0)
	{
		snprintf(loc, sizeof(loc), "%s:%d:", path, line);
		like(err.msg, loc, "... naming file:line (line %d)", line);
	}
	else
		like(err.msg, path, "... naming the file");
	if (needle1)
		like(err.msg, needle1, "... containing '%s'", needle1);
	if (needle2)
		like(err.msg, needle2, "... containing '%s'", needle2);
	note("%s", err.msg);
}

static void
test_good(void)
{
	pgark_config cfg;
	pgark_err	err;
	const char *path = conf_file("good.conf",
								 "# pgark configuration\n"
								 "; another comment style\n"
								 "\n"
								 "[repo]\n"
								 "type = local\n"
								 "path = /var/lib/pgark\n"
								 "\n"
								 "[crypto]\n"
								 "key_file = /etc/pgark/master.key\n"
								 "cipher = aes-256-gcm\n"
								 "[postgres]\n"
								 "pgdata=/var/lib/postgresql/15/main\n"
								 "conninfo = host=/var/run/postgresql port=5433 dbname=postgres\n"
								 "[archive]\n"
								 "spool = /var/spool/pgark\n"
								 "[log]\n"
								 "level = debug\n"
								 "audit = /var/log/pgark/audit.jsonl\n");

	err_clear(&err);
	if (!is_int(config_load(&cfg, path, &err), 0, "a complete file loads"))
		diag("%s", err.msg);
	is_str(cfg.source, path, "source is the file");
	is_str(cfg.repo_type, "local", "[repo] type");
	is_str(cfg.repo_path, "/var/lib/pgark", "[repo] path");
	is_str(cfg.key_file, "/etc/pgark/master.key", "[crypto] key_file");
	is_str(cfg.key_command, "", "[crypto] key_command unset");
	is_str(cfg.cipher, "aes-256-gcm", "[crypto] cipher");
	ok(!config_cipher_is_none(&cfg), "... is not none");
	is_str(cfg.pgdata, "/var/lib/postgresql/15/main", "[postgres] pgdata (no blanks around =)");
	is_str(cfg.conninfo, "host=/var/run/postgresql port=5433 dbname=postgres", "[postgres] conninfo keeps its '='s");
	is_str(cfg.spool, "/var/spool/pgark", "[archive] spool");
	is_int(cfg.log_level, LOG_LEVEL_DEBUG, "[log] level");
	is_str(cfg.audit, "/var/log/pgark/audit.jsonl", "[log] audit");

	/* the minimum: defaults for the rest */
	path = conf_file("minimal.conf", "[repo]\npath = /srv/pgark\n[crypto]\nkey_command = vault read -field=key x\n");
	if (!is_int(config_load(&cfg, path, &err), 0, "a minimal file loads (key_command)"))
		diag("%s", err.msg);
	is_str(cfg.repo_type, "local", "type defaults to local");
	is_str(cfg.cipher, "aes-256-gcm", "cipher defaults to aes-256-gcm");
	is_int(cfg.log_level, LOG_LEVEL_INFO, "level defaults to info");
	is_str(cfg.key_command, "vault read -field=key x", "key_command");

	/* cipher none needs no key */
	path = conf_file("none.conf", "[repo]\npath = /srv/pgark\n[crypto]\ncipher = none\n");
	is_int(config_load(&cfg, path, &err), 0, "cipher = none without a key loads");
	ok(config_cipher_is_none(&cfg), "... and says so");

	/* an indented line is a key of its own, not the continuation of the previous value */
	path = conf_file("indent.conf", "[repo]\npath = /srv/pgark\n    type = local\n\t[crypto]\n  key_file = /k\n");
	if (!is_int(config_load(&cfg, path, &err), 0, "indented lines load"))
		diag("%s", err.msg);
	is_str(cfg.repo_path, "/srv/pgark", "... the previous value is unchanged");
	is_str(cfg.repo_type, "local", "... the indented key is set");
	is_str(cfg.key_file, "/k", "... an indented section header works too");
}

static void
test_s3(void)
{
	pgark_config cfg;
	pgark_err	err;
	const char *path;
	char		copy[4200];

	path = conf_file("s3.conf",
					 "[repo]\n"
					 "type = s3\n"
					 "endpoint = https://minio.example.com:9000\n"
					 "bucket = db-backups\n"
					 "prefix = prod/main\n"
					 "uri_style = path\n"
					 "access_key = AKIAEXAMPLE\n"
					 "secret_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
					 "verify_tls = off\n"
					 "retries = 7\n"
					 "timeout = 30\n"
					 "multipart_threshold = 100MiB\n"
					 "part_size = 8M\n"
					 "sse = aws:kms\n"
					 "sse_kms_key_id = alias/pgark\n"
					 GOOD_KEY);
	snprintf(copy, sizeof(copy), "%s", path);
	chmod(copy, 0640);
	err_clear(&err);
	if (!is_int(config_load(&cfg, copy, &err), 0, "an S3 configuration loads (mode 0640)"))
		diag("%s", err.msg);
	is_str(cfg.repo_type, "s3", "[repo] type = s3");
	is_str(cfg.s3_endpoint, "https://minio.example.com:9000", "[repo] endpoint");
	is_str(cfg.s3_bucket, "db-backups", "[repo] bucket");
	is_str(cfg.s3_prefix, "prod/main", "[repo] prefix");
	is_str(cfg.s3_region, "us-east-1", "[repo] region defaults to us-east-1");
	is_str(cfg.s3_uri_style, "path", "[repo] uri_style");
	is_int(cfg.s3_verify_tls, 0, "[repo] verify_tls = off");
	is_int(cfg.s3_retries, 7, "[repo] retries");
	is_int(cfg.s3_timeout, 30, "[repo] timeout");
	ok(cfg.s3_multipart_threshold == 100u * 1024 * 1024, "[repo] multipart_threshold = 100MiB");
	ok(cfg.s3_part_size == 8u * 1024 * 1024, "[repo] part_size = 8M");
	is_str(cfg.s3_sse, "aws:kms", "[repo] sse");

	/* a secret in a file everyone can read is refused */
	chmod(copy, 0644);
	is_int(config_load(&cfg, copy, &err), -1, "secret_key in a world-readable file: refused");
	like(err.msg, "chmod o-rwx", "... saying how to fix it");
	ok(strstr(err.msg, "wJalrXUtnFEMI") == NULL, "... without quoting the secret");

	/* defaults */
	path = conf_file("s3min.conf", "[repo]\ntype = s3\nbucket = bkt\n" GOOD_KEY);
	if (!is_int(config_load(&cfg, path, &err), 0, "a minimal S3 configuration loads (credentials from elsewhere)"))
		diag("%s", err.msg);
	is_str(cfg.s3_uri_style, "host", "uri_style defaults to host");
	is_int(cfg.s3_verify_tls, 1, "verify_tls defaults to on");
	is_int(cfg.s3_retries, 4, "retries defaults to 4");
	ok(cfg.s3_multipart_threshold == 64u * 1024 * 1024, "multipart_threshold defaults to 64 MiB");
	ok(cfg.s3_part_size == 16u * 1024 * 1024, "part_size defaults to 16 MiB");

	/* the secret from the environment, not the file */
	setenv("PGARK_REPO_SECRET_KEY", "from-env", 1);
	setenv("PGARK_REPO_ACCESS_KEY", "AKIAENV", 1);
	is_int(config_load(&cfg, path, &err), 0, "credentials from PGARK_REPO_* in a world-readable file's setup");
	is_str(cfg.s3_access_key, "AKIAENV", "... access_key from the environment");
	unsetenv("PGARK_REPO_SECRET_KEY");
	unsetenv("PGARK_REPO_ACCESS_KEY");
}

static void
test_errors(void)
{
	refused("unknown section", GOOD_REPO GOOD_KEY "[repos]\npath = /x\n", 7, "[repos]", NULL);
	refused("unknown key", "[repo]\npath = /x\npaht = /y\n" GOOD_KEY, 3, "[repo] paht", "unknown");
	refused("key in the wrong section", "[repo]\npath = /x\nkey_file = /k\n", 3, "[repo] key_file", NULL);
	refused("key before any section", "path = /x\n" GOOD_REPO GOOD_KEY, 1, NULL, NULL);
	refused("key set twice", GOOD_REPO GOOD_KEY "[repo]\npath = /y\n", 7, "[repo] path", "more than once");
	refused("relative path", "[repo]\npath = var/lib/pgark\n" GOOD_KEY, 2, "[repo] path", "absolute");
	refused("relative key_file", GOOD_REPO "[crypto]\nkey_file = master.key\n", 5, "[crypto] key_file", "absolute");
	refused("relative spool", GOOD_REPO GOOD_KEY "[archive]\nspool = ./spool\n", 7, "[archive] spool", NULL);
	refused("bad log level", GOOD_REPO GOOD_KEY "[log]\nlevel = verbose\n", 7, "[log] level", "verbose");
	refused("bad cipher", GOOD_REPO GOOD_KEY "cipher = aes-128-cbc\n", 6, "[crypto] cipher", "aes-128-cbc");
	refused("key_file and key_command both set",
			GOOD_REPO "[crypto]\nkey_file = /k\nkey_command = cat /k\n", 0, "key_file", "key_command");
	refused("no key with the default cipher", GOOD_REPO, 0, "[crypto] key_file", NULL);
	refused("no [repo] path", "[repo]\ntype = local\n" GOOD_KEY, 0, "[repo] path", NULL);
	refused("empty [repo] path", "[repo]\npath =\n" GOOD_KEY, 0, "[repo] path", NULL);
	refused("type = s3 with a path", "[repo]\ntype = s3\npath = /x\nbucket = b1b\n" GOOD_KEY, 0, "[repo] path",
			"type = local");
	refused("type = s3 without a bucket", "[repo]\ntype = s3\n" GOOD_KEY, 0, "[repo] bucket", "required");
	refused("a bucket name with a slash", GOOD_S3 "bucket = a/b\n" GOOD_KEY, 0, "[repo] bucket", "a/b");
	refused("a prefix with ..", GOOD_S3 "bucket = bkt\nprefix = a/../b\n" GOOD_KEY, 0, "[repo] prefix", NULL);
	refused("a bad uri_style", GOOD_S3 "uri_style = virtual\n" GOOD_KEY, 3, "[repo] uri_style", "virtual");
	refused("verify_tls not a boolean", GOOD_S3 "verify_tls = maybe\n" GOOD_KEY, 3, "[repo] verify_tls", "maybe");
	refused("retries out of range", GOOD_S3 "retries = 99\n" GOOD_KEY, 3, "[repo] retries", "0 to 20");
	refused("a part_size below 5 MiB", GOOD_S3 "part_size = 1M\n" GOOD_KEY, 3, "[repo] part_size", "5 MiB");
	refused("a size with a bad suffix", GOOD_S3 "part_size = 8X\n" GOOD_KEY, 3, "[repo] part_size", NULL);
	refused("part_size above multipart_threshold", GOOD_S3 "bucket = bkt\npart_size = 64M\nmultipart_threshold = 32M\n" GOOD_KEY,
			0, "part_size", "multipart_threshold");
	refused("access_key without secret_key", GOOD_S3 "bucket = bkt\naccess_key = AKIA\n" GOOD_KEY, 0,
			"access_key and secret_key", NULL);
	refused("an endpoint that is not a URL", GOOD_S3 "bucket = bkt\nendpoint = s3.example.com\n" GOOD_KEY, 0,
			"[repo] endpoint", "https://");
	refused("sse not known", GOOD_S3 "sse = rot13\n" GOOD_KEY, 3, "[repo] sse", "rot13");
	refused("sse_kms_key_id without aws:kms", GOOD_S3 "bucket = bkt\nsse_kms_key_id = k\n" GOOD_KEY, 0,
			"sse_kms_key_id", NULL);
	refused("bucket with type = local", GOOD_REPO "bucket = bkt\n" GOOD_KEY, 0, "type = local", NULL);
	refused("[backup] workers out of range", GOOD_REPO GOOD_KEY "[backup]\nworkers = 65\n", 7, "[backup] workers",
			"0 to 64");
	refused("unknown repository type", "[repo]\ntype = ftp\npath = /x\n" GOOD_KEY, 2, "[repo] type", "ftp");
	refused("syntax error line", GOOD_REPO "this is not a setting\n" GOOD_KEY, 4, "syntax", NULL);
	refused("unclosed section header", GOOD_REPO "[crypto\nkey_file = /k\n", 4, "syntax", NULL);
	{
		char		longline[6000];

		snprintf(longline, sizeof(longline), GOOD_REPO GOOD_KEY "[postgres]\nconninfo = %05000d\n", 1);
		refused("a line too long", longline, 7, NULL, NULL);
	}

	/* a file that is not there, named explicitly */
	{
		pgark_config cfg;
		pgark_err	err;
		char		path[4200];

		snprintf(path, sizeof(path), "%s/does-not-exist.conf", dir);
		err_clear(&err);
		is_int(config_load(&cfg, path, &err), -1, "a missing file given explicitly is an error");
		is_kind(err, PGARK_ERR_CONFIG, "... a config error");
		like(err.msg, path, "... naming the file");
		like(err.msg, "No such file", "... and why");

		/* the same through PGARK_CONFIG */
		setenv("PGARK_CONFIG", path, 1);
		is_int(config_load(&cfg, NULL, &err), -1, "a missing $PGARK_CONFIG file is an error");
		like(err.msg, path, "... naming the file");
		unsetenv("PGARK_CONFIG");
	}
}

static void
test_environment(void)
{
	pgark_config cfg;
	pgark_err	err;
	const char *path = conf_file("env.conf", GOOD_REPO GOOD_KEY "[log]\nlevel = error\n");
	char		copy[4200];

	snprintf(copy, sizeof(copy), "%s", path);
	setenv("PGARK_REPO_PATH", "/from/environment", 1);
	setenv("PGARK_LOG_LEVEL", "warning", 1);
	err_clear(&err);
	is_int(config_load(&cfg, copy, &err), 0, "loads with PGARK_REPO_PATH set");
	is_str(cfg.repo_path, "/from/environment", "PGARK_REPO_PATH beats the file");
	is_int(cfg.log_level, LOG_LEVEL_WARNING, "PGARK_LOG_LEVEL beats the file");
	is_str(cfg.key_file, "/etc/pgark/master.key", "the file still supplies the rest");

	setenv("PGARK_REPO_PATH", "relative", 1);
	is_int(config_load(&cfg, copy, &err), -1, "a relative PGARK_REPO_PATH is refused");
	like(err.msg, "PGARK_REPO_PATH", "... naming the variable");
	unsetenv("PGARK_REPO_PATH");
	unsetenv("PGARK_LOG_LEVEL");

	setenv("PGARK_CRYPTO_CIPHER", "none", 1);
	path = conf_file("env2.conf", GOOD_REPO);
	is_int(config_load(&cfg, path, &err), 0, "PGARK_CRYPTO_CIPHER=none makes a key unnecessary");
	unsetenv("PGARK_CRYPTO_CIPHER");

	/* $PGARK_CONFIG names the file when none is given */
	setenv("PGARK_CONFIG", copy, 1);
	is_int(config_load(&cfg, NULL, &err), 0, "PGARK_CONFIG is used when no file is given");
	is_str(cfg.source, copy, "... and is the source");
	unsetenv("PGARK_CONFIG");

	/* no file anywhere: the default, and a message saying how to name one */
	{
		FILE	   *f = fopen(PGARK_DEFAULT_CONFIG, "r");

		if (f != NULL)
		{
			fclose(f);
			skip(2, "%s exists on this machine", PGARK_DEFAULT_CONFIG);
		}
		else
		{
			is_int(config_load(&cfg, NULL, &err), -1, "no --config, no PGARK_CONFIG, no default file");
			ok(strstr(err.msg, PGARK_DEFAULT_CONFIG) && strstr(err.msg, "--config") &&
			   strstr(err.msg, "PGARK_CONFIG"), "... the message names the default and how to give one");
		}
	}
}

static void
test_set(void)
{
	pgark_config cfg;
	pgark_err	err;

	config_defaults(&cfg);
	err_clear(&err);
	is_int(config_set(&cfg, "repo.path=/x", &err), 0, "config_set repo.path=/x");
	is_str(cfg.repo_path, "/x", "... sets it");
	is_int(config_set(&cfg, "postgres.conninfo=host=h port=5432", &err), 0, "a value containing '='");
	is_str(cfg.conninfo, "host=h port=5432", "... kept whole");
	is_int(config_set(&cfg, "log.level=debug", &err), 0, "log.level=debug");
	is_int(cfg.log_level, LOG_LEVEL_DEBUG, "... sets the level");
	is_int(config_set(&cfg, "repo.path=x", &err), -1, "a relative path is refused");
	like(err.msg, "[repo] path", "... naming the key");
	is_str(cfg.repo_path, "/x", "... and the old value stays");
	is_int(config_set(&cfg, "repo.nope=1", &err), -1, "an unknown key is refused");
	like(err.msg, "[repo] nope", "... naming it");
	is_int(config_set(&cfg, "nosection=1", &err), -1, "no section: refused");
	is_int(config_set(&cfg, "repo.path", &err), -1, "no '=': refused");
	is_int(config_set(&cfg, "log.level=loud", &err), -1, "a bad level is refused");
	is_int(config_validate(&cfg, &err), -1, "validate: no key configured");
	is_int(config_set(&cfg, "crypto.key_file=/k", &err), 0, "crypto.key_file=/k");
	is_int(config_validate(&cfg, &err), 0, "validate: now complete");
}

static void
test_durations(void)
{
	static const struct
	{
		const char *text;
		int64_t		secs;		/* -1: refused */
	}			cases[] = {
		{"0", 0}, {"45s", 45}, {"90min", 5400}, {"36h", 129600}, {"14d", 1209600}, {"2w", 1209600},
		{"7", -1}, {"", -1}, {"h", -1}, {"-1d", -1}, {"1.5d", -1}, {"1 d", -1}, {"1D", -1},
		{"1m", -1}, {"1dd", -1}, {" 1d", -1}, {"99999999999999999999d", -1}, {"9223372036854775807w", -1},
	};
	pgark_config cfg;
	pgark_err	err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t		v = -7;
		int			rc = config_parse_duration(cases[i].text, &v);

		if (cases[i].secs < 0)
			is_int(rc, -1, "duration \"%s\" refused", cases[i].text);
		else
			ok(rc == 0 && v == cases[i].secs, "duration \"%s\" = %lld s", cases[i].text,
			   (long long) cases[i].secs);
	}
	config_defaults(&cfg);
	is_int(config_set(&cfg, "retention.keep_within=3d", &err), 0, "retention.keep_within=3d");
	ok(cfg.keep_within == 3 * 86400, "... is three days");
	is_int(config_set(&cfg, "retention.pitr_window=3", &err), -1, "a duration without a unit is refused");
	like(err.msg, "[retention] pitr_window", "... naming the key");
	is_int(config_set(&cfg, "retention.keep_daily=7", &err), 0, "retention.keep_daily=7");
	is_int(cfg.keep_daily, 7, "... set");
	is_int(config_set(&cfg, "crypto.rotate_after=52w", &err), 0, "crypto.rotate_after=52w");
}

int
main(void)
{
	clear_env();
	make_tmpdir(dir, sizeof(dir), "config");
	test_good();
	test_errors();
	test_s3();
	test_environment();
	test_set();
	test_durations();
	rm_rf(dir);
	return done_testing();
}
