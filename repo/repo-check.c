/*
 * repo-check — is the backup healthy? For cron, Nagios/Icinga (exit 0 OK,
 * 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and Prometheus (--prometheus FILE, a
 * node_exporter textfile written atomically). Each check is one line:
 *
 *   repository  pgark.repo readable, a probe object written and removed
 *   free_space  free space of a local repository's filesystem ([check] free_*)
 *   key         the key file present, mode 0600, opening the current data key
 *   key_age     the master key against [crypto] rotate_after
 *   backup      age of the newest usable backup ([check] backup_*)
 *   wal         the newest segment in the repository; the server's last
 *               archived segment must be there
 *   archiver    pg_stat_archiver: failures, WAL waiting ([check] archive_lag_*)
 *   verify      the result recorded by the last repo-verify ([check] verify_max_age)
 *   drill       the last restore drill (repo-verify --restore-drill; [check] drill_max_age)
 *   dumps       the age of each database's newest logical dump ([check] dump_max_age)
 *
 * Thresholds and why: README "Health checks: repo-check".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dump.h"
#include "inventory.h"
#include "pg.h"
#include "prog.h"
#include "repo.h"
#include "status.h"
#include "util.h"
#include "wal.h"

static int	opt_json;
static const char *opt_prometheus;

typedef enum cstate
{
	ST_OK = 0,
	ST_WARNING = 1,
	ST_CRITICAL = 2,
	ST_UNKNOWN = 3
} cstate;

static int
severity(cstate s)
{
	static const int rank[] = {0, 2, 3, 1};

	return rank[s];
}

static const char *const state_name[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

typedef struct check
{
	const char *name;
	cstate		state;
	char		msg[1400];
	const char *unit;			/* of value and thresholds: "s" or "bytes"; NULL: none */
	double		value, warn, crit;	/* < 0: none */
} check;

#define NCHECKS 12
static check checks[NCHECKS];
static size_t nchecks;

/* the metrics besides each check's state; < 0: unknown */
static double m_backup_age = -1, m_archive_lag = -1, m_wal_age = -1, m_free = -1, m_key_age = -1,
			m_verify_age = -1, m_verify_ok = -1, m_pending = -1, m_drill_age = -1, m_drill_ok = -1,
			m_drill_rto = -1;

/* the newest dump of each database that has one (the Prometheus gauges) */
#define MAX_DUMP_DBS 4096
typedef struct dump_age
{
	char		db[DUMP_NAME_MAX + 1];
	double		age;
} dump_age;
static dump_age *m_dumps;
static size_t m_ndumps;

static int
opt(prog *p, int c, const char *arg)
{
	if (c == 1100)
		opt_json = 1;
	else if (c == 1101)
		opt_prometheus = arg;
	else
		return prog_usage_error(p, "unknown option");
	return -1;
}

static check *
add_check(const char *name)
{
	check	   *c = &checks[nchecks++];

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->value = c->warn = c->crit = -1;
	return c;
}

static void set_state(check *c, cstate st, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static void
set_state(check *c, cstate st, const char *fmt,...)
{
	va_list		ap;

	c->state = st;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

/* "3d 4h", "26h 5min", "42s" */
static void
human_age(double secs, char *out, size_t len)
{
	long long	s = (long long) secs;

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, len, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, len, "%lldh %lldmin", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, len, "%lldmin %llds", s / 60, s % 60);
	else
		snprintf(out, len, "%llds", s);
}

/* An age against warn/crit (0: that threshold off): the state, with a
 * message "<what> <age> ago (<threshold> = <t>)". */
static void
age_state(check *c, double age, int64_t warn, int64_t crit, const char *warn_key, const char *crit_key,
		  const char *what)
{
	char		a[48], t[48];

	c->unit = "s";
	c->value = age;
	c->warn = warn > 0 ? (double) warn : -1;
	c->crit = crit > 0 ? (double) crit : -1;
	human_age(age, a, sizeof(a));
	if (crit > 0 && age > (double) crit)
	{
		human_age((double) crit, t, sizeof(t));
		set_state(c, ST_CRITICAL, "%s %s ago, older than %s = %s", what, a, crit_key, t);
	}
	else if (warn > 0 && age > (double) warn)
	{
		human_age((double) warn, t, sizeof(t));
		set_state(c, ST_WARNING, "%s %s ago, older than %s = %s", what, a, warn_key, t);
	}
	else
	{
		human_age((double) (warn > 0 ? warn : crit), t, sizeof(t));
		set_state(c, ST_OK, "%s %s ago%s%s%s", what, a, warn > 0 || crit > 0 ? " (within " : "",
				  warn > 0 || crit > 0 ? t : "", warn > 0 || crit > 0 ? ")" : "");
	}
}

/* ---- the repository: reachable, writable; free space */

static void
check_repository(const pgark_config *cfg, const char *where)
{
	check	   *c = add_check("repository");
	pgark_err	err;
	store	   *st;
	uint8_t    *buf = NULL;
	size_t		len;
	char		probe[96];
	uint8_t		rnd[6];
	char		hex[13];
	static const char body[] = "pgark repo-check probe: safe to delete\n";

	err_clear(&err);
	if ((st = store_open(cfg, &err)) == NULL)
	{
		set_state(c, ST_CRITICAL, "%s cannot be reached: %s", where, err.msg);
		return;
	}
	/* nothing is written before pgark.repo is found: a removed local
	 * repository must not be re-created by the probe */
	if (store_get_buf(st, REPO_META_NAME, 2047, &buf, &len, &err) != 0)
	{
		if (err.kind == PGARK_ERR_NOTFOUND)
			set_state(c, ST_CRITICAL, "%s is not a pgark repository (no %s)", where, REPO_META_NAME);
		else
			set_state(c, ST_CRITICAL, "%s cannot be read: %s", where, err.msg);
		store_free(st);
		return;
	}
	free(buf);
	if (random_bytes(rnd, sizeof(rnd), &err) != 0)
	{
		set_state(c, ST_UNKNOWN, "%s", err.msg);
		store_free(st);
		return;
	}
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(probe, sizeof(probe), "check/probe-%ld-%s", (long) getpid(), hex);
	if (store_put_buf(st, probe, body, sizeof(body) - 1, STORE_NO_OVERWRITE, &err) != 0)
		set_state(c, ST_CRITICAL, "%s is readable but not writable: %s", where, err.msg);
	else if (store_remove(st, probe, &err) != 0)
		set_state(c, ST_WARNING, "%s is writable, but the probe %s could not be removed: %s", where, probe,
				  err.msg);
	else
		set_state(c, ST_OK, "%s readable and writable", where);
	store_free(st);
}

static void
check_free_space(const pgark_config *cfg, int reachable)
{
	check	   *c;
	struct statvfs sv;
	double		wpct, cpct, total, avail;
	uint64_t	wbytes, cbytes;
	char		a[32], t[32];

	if (strcmp(cfg->repo_type, "local") != 0)
		return;					/* a bucket has no free space to watch */
	c = add_check("free_space");
	c->unit = "bytes";
	if (!reachable)
	{
		set_state(c, ST_UNKNOWN, "the repository directory cannot be reached");
		return;
	}
	if (statvfs(cfg->repo_path, &sv) != 0)
	{
		set_state(c, ST_UNKNOWN, "statvfs %s: %s", cfg->repo_path, strerror(errno));
		return;
	}
	total = (double) sv.f_blocks * (double) sv.f_frsize;
	avail = (double) sv.f_bavail * (double) sv.f_frsize;
	m_free = avail;
	/* validated when the configuration was loaded */
	(void) config_parse_space(cfg->check_free_warn, &wpct, &wbytes);
	(void) config_parse_space(cfg->check_free_crit, &cpct, &cbytes);
	c->value = avail;
	c->warn = wpct >= 0 ? total * wpct / 100 : wbytes ? (double) wbytes : -1;
	c->crit = cpct >= 0 ? total * cpct / 100 : cbytes ? (double) cbytes : -1;
	if (c->warn == 0)
		c->warn = -1;
	if (c->crit == 0)
		c->crit = -1;
	human_bytes((uint64_t) avail, a, sizeof(a));
	if (c->crit >= 0 && avail < c->crit)
	{
		human_bytes((uint64_t) c->crit, t, sizeof(t));
		set_state(c, ST_CRITICAL, "%s free (%.1f%%) on %s, below free_crit = %s (%s)", a,
				  total > 0 ? 100 * avail / total : 0, cfg->repo_path, cfg->check_free_crit, t);
	}
	else if (c->warn >= 0 && avail < c->warn)
	{
		human_bytes((uint64_t) c->warn, t, sizeof(t));
		set_state(c, ST_WARNING, "%s free (%.1f%%) on %s, below free_warn = %s (%s)", a,
				  total > 0 ? 100 * avail / total : 0, cfg->repo_path, cfg->check_free_warn, t);
	}
	else
		set_state(c, ST_OK, "%s free (%.1f%%) on %s", a, total > 0 ? 100 * avail / total : 0, cfg->repo_path);
}

/* ---- keys */

/* The key file as a file: present, regular, mode. 0 if fine. */
static int
key_file_state(const pgark_config *cfg, check *c)
{
	struct stat sb;

	if (lstat(cfg->key_file, &sb) != 0)
	{
		set_state(c, ST_CRITICAL, "key file %s: %s", cfg->key_file,
				  errno == ENOENT ? "does not exist" : strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode))
	{
		set_state(c, ST_CRITICAL, "key file %s is not a regular file", cfg->key_file);
		return -1;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO))
	{
		set_state(c, ST_CRITICAL, "key file %s has mode %04o: group or others can access it, and pgark "
				  "refuses it (chmod 600 %s)", cfg->key_file, (unsigned) (sb.st_mode & 07777), cfg->key_file);
		return -1;
	}
	return 0;
}

static void
check_key(repo *r, const pgark_config *cfg, const pgark_err *open_err)
{
	check	   *c = add_check("key");
	pgark_err	err;
	char		dek[2 * OBJ_DEK_ID_LEN + 1];

	if (config_cipher_is_none(cfg))
	{
		set_state(c, ST_OK, "not encrypted ([crypto] cipher = none): no key to check");
		return;
	}
	if (cfg->key_file[0] && key_file_state(cfg, c) != 0)
		return;
	if (r == NULL)
	{
		if (open_err->kind == PGARK_ERR_KEY)
			set_state(c, ST_CRITICAL, "%s", open_err->msg);
		else
			set_state(c, ST_UNKNOWN, "not checked: the repository cannot be opened");
		return;
	}
	hex_encode(r->meta.data_key, OBJ_DEK_ID_LEN, dek);
	err_clear(&err);
	if (keyring_get_dek(r->kr, r->meta.data_key, &err) == NULL)
	{
		set_state(c, ST_CRITICAL, "the master key does not open the current data key %s: %s", dek, err.msg);
		return;
	}
	if (cfg->key_file[0])
		set_state(c, ST_OK, "key file %s (mode 0600 or stricter) opens the current data key %s (master key %s)",
				  cfg->key_file, dek, keyring_kek_fingerprint(r->kr));
	else
		set_state(c, ST_OK, "key_command's key opens the current data key %s (master key %s)", dek,
				  keyring_kek_fingerprint(r->kr));
}

static void
check_key_age(repo *r, const pgark_config *cfg, int64_t now)
{
	check	   *c = add_check("key_age");
	pgark_err	err;
	int64_t		since;
	char		what[160];

	if (config_cipher_is_none(cfg))
	{
		set_state(c, ST_OK, "skipped: not encrypted");
		return;
	}
	if (cfg->rotate_after == 0)
	{
		set_state(c, ST_OK, "skipped: [crypto] rotate_after is not set");
		return;
	}
	if (r == NULL)
	{
		set_state(c, ST_UNKNOWN, "not checked: the repository cannot be opened");
		return;
	}
	err_clear(&err);
	if (keyring_kek_since(r->kr, &since, &err) != 0)
	{
		set_state(c, ST_UNKNOWN, "%s", err.msg);
		return;
	}
	m_key_age = (double) (now - since);
	snprintf(what, sizeof(what), "master key %s first wrapped the data keys", keyring_kek_fingerprint(r->kr));
	/* past rotate_after is a reminder, not an emergency: WARNING only */
	age_state(c, (double) (now - since), cfg->rotate_after, 0, "[crypto] rotate_after", "", what);
	if (c->state == ST_WARNING)
	{
		size_t		n = strlen(c->msg);

		snprintf(c->msg + n, sizeof(c->msg) - n, ": rotate it (key-gen, key-rotate --new-key)");
	}
}

/* ---- backups and WAL */

static void
check_backup(const repo_inventory *inv, const pgark_config *cfg, int64_t now)
{
	check	   *c = add_check("backup");
	const inv_backup *b = NULL;
	char		what[256];

	for (size_t i = inv->nbackups; i-- > 0;)
		if (inv->backups[i].status == INV_OK)
		{
			b = &inv->backups[i];
			break;
		}
	if (b == NULL)
	{
		if (inv->nbackups == 0)
			set_state(c, ST_CRITICAL, "no backup in the repository (run base-push)");
		else
			set_state(c, ST_CRITICAL, "no usable backup: the newest, %s, is %s (%s)",
					  inv->backups[inv->nbackups - 1].id, inv_status_str(inv->backups[inv->nbackups - 1].status),
					  inv->backups[inv->nbackups - 1].problem);
		return;
	}
	m_backup_age = (double) (now - b->stop_time);
	snprintf(what, sizeof(what), "newest usable backup %s ended", b->id);
	age_state(c, (double) (now - b->stop_time), cfg->check_backup_warn, cfg->check_backup_crit,
			  "[check] backup_warn", "[check] backup_crit", what);
}

/* newest segment in the repository; the server's last archived one there */
static void
check_wal(const repo_inventory *inv, const pg_archiver_state *as, int64_t now)
{
	check	   *c = add_check("wal");
	const inv_timeline *newest_tl = NULL;
	int64_t		newest = -1;
	char		name[48] = "", a[48];

	for (size_t i = 0; i < inv->ntls; i++)
	{
		const inv_timeline *tl = &inv->tls[i];

		for (size_t k = 0; k < tl->nranges; k++)
			if (tl->ranges[k].last_mtime > newest)
			{
				walname		wn;

				newest = tl->ranges[k].last_mtime;
				newest_tl = tl;
				walname_segment(tl->tli, tl->ranges[k].last, inv->seg_size, &wn);
				snprintf(name, sizeof(name), "%s", wn.name);
			}
	}
	if (newest_tl == NULL)
	{
		set_state(c, ST_CRITICAL, "no WAL segment in the repository: is archive_command set?");
		return;
	}
	m_wal_age = (double) (now - newest);
	c->unit = "s";
	c->value = m_wal_age;
	human_age(m_wal_age, a, sizeof(a));
	if (as != NULL && as->last_archived_wal[0])
	{
		walname		wn;
		pgark_err	ignore;

		if (walname_parse(as->last_archived_wal, &wn, &ignore) == 0 && wn.kind == WAL_SEGMENT)
		{
			const inv_timeline *tl = inv_timeline_find(inv, wn.tli);

			if (tl == NULL || inv_range_of(tl, walname_segno(&wn, inv->seg_size)) == NULL)
			{
				set_state(c, ST_CRITICAL, "the server reports %s archived, but the repository does not hold "
						  "it (does archive_command write to another repository?); newest here: %s, %s ago",
						  as->last_archived_wal, name, a);
				return;
			}
		}
	}
	set_state(c, ST_OK, "newest segment %s stored %s ago%s", name, a,
			  as != NULL && as->last_archived_wal[0] ? ", the server's last archived one is there" : "");
}

/* ---- the server's archiver */

static void
check_archiver(const pgark_config *cfg, pg_archiver_state *as, int *have_as, uint32_t seg_size)
{
	check	   *c = add_check("archiver");
	pgark_err	err;
	double		lag = 0;
	int64_t		pending = 0;
	int			estimated = 0;
	char		a[48], t[48], last[160];

	*have_as = 0;
	if (cfg->conninfo[0] == '\0')
	{
		set_state(c, ST_OK, "skipped: [postgres] conninfo is not set");
		return;
	}
	err_clear(&err);
	if (pg_archiver_read(cfg->conninfo, as, &err) != 0)
	{
		/* on the host being watched, a server that cannot be reached
		 * archives nothing */
		set_state(c, ST_CRITICAL, "%s", err.msg);
		return;
	}
	*have_as = 1;
	if (strcmp(as->archive_mode, "off") == 0)
	{
		set_state(c, ST_CRITICAL, "archive_mode is off: no WAL is archived");
		return;
	}
	if (as->in_recovery && strcmp(as->archive_mode, "always") != 0)
	{
		set_state(c, ST_WARNING, "[postgres] conninfo reaches a standby (archive_mode = %s): the primary's "
				  "archiver is not watched; point conninfo at the primary", as->archive_mode);
		return;
	}
	if (as->last_archived_wal[0])
	{
		human_age((double) (as->now - as->last_archived_time), a, sizeof(a));
		snprintf(last, sizeof(last), "last archived %s %s ago", as->last_archived_wal, a);
	}
	else
		snprintf(last, sizeof(last), "nothing archived since the statistics were reset");
	if (as->failed_count > 0 && as->last_failed_time >= 0 &&
		(as->last_archived_time < 0 || as->last_failed_time > as->last_archived_time))
	{
		double		waiting = as->ready_known && as->oldest_ready >= 0 ? (double) (as->now - as->oldest_ready) : -1;

		/* PostgreSQL retries by itself: CRITICAL once WAL has waited
		 * archive_lag_crit (or how long is unknown), a WARNING before */
		human_age((double) (as->now - as->last_failed_time), t, sizeof(t));
		set_state(c, waiting >= 0 && (cfg->check_archive_lag_crit <= 0 || waiting < (double) cfg->check_archive_lag_crit)
				  ? ST_WARNING : ST_CRITICAL,
				  "archiving fails: %" PRId64 " failures, the last for %s %s ago; %s", as->failed_count,
				  as->last_failed_wal, t, last);
		c->unit = "s";
		c->value = waiting;
		c->warn = (double) cfg->check_archive_lag_warn;
		c->crit = (double) cfg->check_archive_lag_crit;
		m_archive_lag = waiting;
		return;
	}
	if (as->ready_known)
	{
		pending = as->ready_count;
		if (pending > 0 && as->oldest_ready >= 0)
			lag = (double) (as->now - as->oldest_ready);
	}
	else if (as->current_wal[0] && as->last_archived_wal[0])
	{
		walname		cur, arc;
		pgark_err	ignore;

		/* without pg_monitor: segments between the last archived and the
		 * one being written, waiting since the last success at most */
		if (walname_parse(as->current_wal, &cur, &ignore) == 0 &&
			walname_parse(as->last_archived_wal, &arc, &ignore) == 0 && arc.kind == WAL_SEGMENT &&
			cur.tli == arc.tli && walname_segno(&cur, seg_size) > walname_segno(&arc, seg_size) + 1)
		{
			pending = (int64_t) (walname_segno(&cur, seg_size) - walname_segno(&arc, seg_size) - 1);
			lag = (double) (as->now - as->last_archived_time);
			estimated = 1;
		}
	}
	m_pending = (double) pending;
	m_archive_lag = lag;
	c->unit = "s";
	c->value = lag;
	c->warn = cfg->check_archive_lag_warn > 0 ? (double) cfg->check_archive_lag_warn : -1;
	c->crit = cfg->check_archive_lag_crit > 0 ? (double) cfg->check_archive_lag_crit : -1;
	human_age(lag, a, sizeof(a));
	if (c->crit >= 0 && lag > c->crit)
	{
		human_age(c->crit, t, sizeof(t));
		set_state(c, ST_CRITICAL, "%" PRId64 " segment%s waiting to be archived for %s%s, longer than "
				  "[check] archive_lag_crit = %s; %s", pending, pending == 1 ? "" : "s", a,
				  estimated ? " (at most)" : "", t, last);
	}
	else if (c->warn >= 0 && lag > c->warn)
	{
		human_age(c->warn, t, sizeof(t));
		set_state(c, ST_WARNING, "%" PRId64 " segment%s waiting to be archived for %s%s, longer than "
				  "[check] archive_lag_warn = %s; %s", pending, pending == 1 ? "" : "s", a,
				  estimated ? " (at most)" : "", t, last);
	}
	else
		set_state(c, ST_OK, "%" PRId64 " segment%s waiting%s, no failure since the last success; %s", pending,
				  pending == 1 ? "" : "s", pending ? "" : " (an idle server archives nothing)", last);
}

/* ---- the last repo-verify */

static void
check_verify(repo *r, const pgark_config *cfg, int64_t now)
{
	check	   *c = add_check("verify");
	status_rec	rec;
	pgark_err	err;
	char		a[48], when[40];

	err_clear(&err);
	if (status_read(r, "verify", &rec, &err) != 0)
	{
		if (err.kind == PGARK_ERR_NOTFOUND)
			set_state(c, ST_WARNING, "no repo-verify result recorded: run repo-verify (after each backup)");
		else
			set_state(c, ST_UNKNOWN, "%s", err.msg);
		return;
	}
	m_verify_age = (double) (now - rec.time);
	m_verify_ok = strcmp(rec.result, "ok") == 0;
	iso8601_from_unix(rec.time, when, sizeof(when));
	human_age(m_verify_age, a, sizeof(a));
	if (strcmp(rec.result, "damaged") == 0)
	{
		int64_t		more = status_damaged_more(rec.damaged);
		char		tail[96] = "";

		/* the record lists as many damaged ids as fit, then "+N" */
		if (more > 0)
			snprintf(tail, sizeof(tail), "; and %" PRId64 " more damaged item%s than status/verify lists", more,
					 more == 1 ? "" : "s");
		set_state(c, ST_CRITICAL, "the last repo-verify (%s, %s ago; %s) found %" PRId64 " problem%s: %s%s",
				  when, a, rec.checked, rec.problems, rec.problems == 1 ? "" : "s", rec.detail, tail);
		return;
	}
	if (strcmp(rec.result, "ok") != 0)
	{
		set_state(c, ST_WARNING, "the last repo-verify (%s, %s ago) could not be completed: %s", when, a,
				  rec.detail);
		return;
	}
	{
		char		what[200];

		snprintf(what, sizeof(what), "the last repo-verify found everything sound (%s); it ran", rec.checked);
		age_state(c, m_verify_age, cfg->check_verify_max_age, 0, "[check] verify_max_age", "", what);
	}
}

/* ---- the last restore drill */

/* the time of an id YYYYMMDDTHHMMSSZ-xxxx (a backup's, a dump's): 0, or -1
 * if not one */
static int
id_time(const char *id, int64_t *t)
{
	char		iso[32];

	if (strlen(id) < 16 || id[8] != 'T' || id[15] != 'Z')
		return -1;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", id, id + 4, id + 6, id + 9, id + 11, id + 13);
	return iso8601_parse(iso, t);
}

/* "taken <age> ago" from a backup id; "" if not one */
static void
backup_taken(const char *id, int64_t now, char *out, size_t len)
{
	char		a[48];
	int64_t		t;

	out[0] = '\0';
	if (id_time(id, &t) != 0)
		return;
	human_age((double) (now > t ? now - t : 0), a, sizeof(a));
	snprintf(out, len, "taken %s ago", a);
}

static void
check_drill(repo *r, const pgark_config *cfg, int64_t now)
{
	check	   *c = add_check("drill");
	status_rec	rec;
	pgark_err	err;
	char		a[48], when[40], what[400], taken[80];

	err_clear(&err);
	if (status_read(r, "drill", &rec, &err) != 0)
	{
		if (err.kind != PGARK_ERR_NOTFOUND)
			set_state(c, ST_UNKNOWN, "%s", err.msg);
		else if (cfg->check_drill_max_age > 0)
			set_state(c, ST_WARNING, "no restore drill recorded: run repo-verify --restore-drill "
					  "([check] drill_max_age is set)");
		else
			set_state(c, ST_OK, "no restore drill recorded (none required: [check] drill_max_age = 0)");
		return;
	}
	backup_taken(rec.backup, now, taken, sizeof(taken));
	m_drill_age = (double) (now - rec.time);
	m_drill_ok = strcmp(rec.result, "ok") == 0;
	m_drill_rto = rec.restore_seconds + rec.replay_seconds;
	iso8601_from_unix(rec.time, when, sizeof(when));
	human_age(m_drill_age, a, sizeof(a));
	if (!m_drill_ok)
	{
		/* a backup that did not restore into a sound database: CRITICAL
		 * until a later drill passes, however old */
		set_state(c, ST_CRITICAL, "the last restore drill (%s, %s ago, backup %s%s%s) failed: %s", when, a,
				  rec.backup, taken[0] ? ", " : "", taken, rec.detail);
		return;
	}
	if (rec.damaged[0])
	{
		char		list[sizeof(rec.damaged) + 64];

		/* a pass of an older backup clears no failure of a newer one */
		m_drill_ok = 0;
		status_damaged_describe(rec.damaged, list, sizeof(list));
		set_state(c, ST_CRITICAL, "the restore drill of backup %.200s failed, and no drill of it or of a newer "
				  "backup has passed since (the last one, %s, %s ago, passed for backup %s, an older one)",
				  list, when, a, rec.backup);
		return;
	}
	snprintf(what, sizeof(what), "the last restore drill passed (backup %s, RTO %.0fs: restore %.0fs + "
			 "replay %.0fs, %" PRIu64 " bytes of WAL; %s; the backup %s); it ran", rec.backup, m_drill_rto,
			 rec.restore_seconds, rec.replay_seconds, rec.wal_bytes, rec.checked, taken[0] ? taken : "of unknown age");
	age_state(c, m_drill_age, cfg->check_drill_max_age, 0, "[check] drill_max_age", "", what);
}

/* ---- logical dumps: the newest complete full dump of each database (a
 * --schema-only one holds no data: a nightly one must not hide the full
 * ones failing) and the newest globals; the listing's store times, and the
 * meta of a database's newest dumps until a full one (DUMP_META_READS at
 * most: one read each when the newest is full) */

#define DUMP_META_READS 32

/* when e was stored: the listing's time, else (a store that gives none) its
 * id's */
static double
dump_entry_age(const dump_entry *e, int64_t now)
{
	int64_t		t = e->mtime;

	if (t <= 0 && id_time(e->id, &t) != 0)
		return 0;
	return now > t ? (double) (now - t) : 0;
}

static void
check_dumps(repo *r, const pgark_config *cfg, int64_t now)
{
	check	   *c = add_check("dumps");
	dump_list	l = {0};
	pgark_err	err;
	char		list[1000] = "", stale[600] = "", a[48], t[48], what[DUMP_NAME_MAX + 200];
	size_t		nstale = 0, nmore = 0, ndirs = 0;
	double		oldest = -1;

	err_clear(&err);
	if (dump_list_read(r, 0, &l, &err) != 0)
	{
		set_state(c, ST_UNKNOWN, "not checked: %s", err.msg);
		return;
	}
	if (l.n > 0 && (m_dumps = calloc(l.n < MAX_DUMP_DBS ? l.n : MAX_DUMP_DBS, sizeof(*m_dumps))) == NULL)
	{
		dump_list_free(&l);
		set_state(c, ST_UNKNOWN, "not checked: out of memory");
		return;
	}
	for (size_t i = 0; i < l.n; i++)
	{
		const dump_entry *full = NULL, *schema = NULL, *last = NULL;
		int			globals = strcmp(l.e[i].dir, DUMP_GLOBALS_DIR) == 0, reads = 0, bounded = 0;
		dump_age   *d;
		char	   *out;
		size_t		j, n, outlen;

		if (i + 1 < l.n && strcmp(l.e[i + 1].dir, l.e[i].dir) == 0)
			continue;			/* not the last entry of its directory */
		/* the directory's entries, oldest first: its newest complete full
		 * one (the globals: its newest complete one) */
		for (j = i + 1; j-- > 0 && strcmp(l.e[j].dir, l.e[i].dir) == 0;)
		{
			dump_entry *e = &l.e[j];

			if (!e->has_meta || !e->has_data)
				continue;
			if (globals)
			{
				full = e;
				break;
			}
			if (reads++ == DUMP_META_READS)
			{
				bounded = 1;
				break;
			}
			if (dump_entry_read_meta(r, e, &err) != 0)
			{
				dump_list_free(&l);
				set_state(c, ST_UNKNOWN, "not checked: %s", err.msg);
				return;
			}
			if (!e->has_meta || !e->meta_ok)
				continue;		/* removed meanwhile, or damaged (repo-verify's) */
			last = e;
			if (e->meta.kind == DUMP_FULL)
			{
				full = e;
				break;
			}
			if (schema == NULL && e->meta.kind == DUMP_SCHEMA)
				schema = e;
		}
		if (full == NULL && last == NULL)
			continue;			/* no complete dump */
		if (m_ndumps == MAX_DUMP_DBS)
		{
			nmore++;
			continue;
		}
		ndirs++;
		d = &m_dumps[m_ndumps++];
		if (globals || dump_name_decode(l.e[i].dir, d->db, sizeof(d->db)) != 0)
			snprintf(d->db, sizeof(d->db), "%.*s", (int) sizeof(d->db) - 1, l.e[i].dir);
		/* no full dump: at least as old as the oldest one looked at */
		d->age = dump_entry_age(full ? full : last, now);
		if (d->age > oldest)
			oldest = d->age;
		human_age(d->age, a, sizeof(a));
		if (full)
			n = (size_t) snprintf(what, sizeof(what), "%s %s ago", d->db, a);
		else if (bounded)
			n = (size_t) snprintf(what, sizeof(what), "%s: no full dump in its newest %d, schema-only (the "
								  "oldest %s ago)", d->db, DUMP_META_READS, a);
		else
			n = (size_t) snprintf(what, sizeof(what), "%s: no full dump, only schema-only ones (the oldest %s "
								  "ago)", d->db, a);
		if (full && schema && n < sizeof(what))
		{
			human_age(dump_entry_age(schema, now), t, sizeof(t));
			snprintf(what + n, sizeof(what) - n, " (schema-only %s ago)", t);
		}
		if (cfg->check_dump_max_age > 0 && (d->age > (double) cfg->check_dump_max_age || !full))
		{
			nstale++;
			out = stale;
			outlen = sizeof(stale);
		}
		else
		{
			out = list;
			outlen = sizeof(list);
		}
		n = strlen(out);
		if (n + strlen(what) + 8 < outlen)
			snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", what);
		else if (n + 4 < outlen && strcmp(out + n - 3, "...") != 0)
			snprintf(out + n, outlen - n, "...");
	}
	dump_list_free(&l);
	c->unit = "s";
	c->value = oldest;
	c->warn = cfg->check_dump_max_age > 0 ? (double) cfg->check_dump_max_age : -1;
	human_age((double) cfg->check_dump_max_age, t, sizeof(t));
	if (nmore > 0)
	{
		size_t		n = strlen(list);

		if (n + 48 < sizeof(list))
			snprintf(list + n, sizeof(list) - n, "%sand %zu more (not checked)", n ? ", " : "", nmore);
	}
	if (ndirs == 0)
		set_state(c, ST_OK, "no logical dump in the repository (none required: [check] dump_max_age applies to "
				  "the databases that have dumps)");
	else if (nstale > 0)
		set_state(c, ST_WARNING, "the newest full dump of %zu database%s older than [check] dump_max_age = %s: "
				  "%s%s%s", nstale, nstale == 1 ? " is" : "s are", t, stale, list[0] ? "; the others: " : "", list);
	else
		set_state(c, ST_OK, "newest full dump of each database: %s%s%s%s", list, cfg->check_dump_max_age > 0 ?
				  " (within [check] dump_max_age = " : "", cfg->check_dump_max_age > 0 ? t : "",
				  cfg->check_dump_max_age > 0 ? ")" : "");
}

/* ---- output */

static void
print_human(cstate worst)
{
	size_t		n = 0;

	/* Nagios: the first line is the status, then perfdata after '|' */
	printf("PGARK %s - ", state_name[worst]);
	if (worst == ST_OK)
		printf("%zu checks ok", nchecks);
	else
		for (size_t i = 0; i < nchecks; i++)
			if (checks[i].state != ST_OK)
				printf("%s%s %s", n++ ? ", " : "", checks[i].name, state_name[checks[i].state]);
	printf(" |");
	for (size_t i = 0; i < nchecks; i++)
	{
		const check *c = &checks[i];

		if (c->value < 0)
			continue;
		/* free space is bad when low: "N:" is "alert below N" (a bare N
		 * would mean "alert above N") */
		const char *low = strcmp(c->name, "free_space") == 0 ? ":" : "";

		printf(" %s=%.0f%s;", c->name, c->value, strcmp(c->unit, "bytes") == 0 ? "B" : "s");
		if (c->warn >= 0)
			printf("%.0f%s", c->warn, low);
		printf(";");
		if (c->crit >= 0)
			printf("%.0f%s", c->crit, low);
	}
	printf("\n");
	for (size_t i = 0; i < nchecks; i++)
		printf("%-8s %-10s %s\n", state_name[checks[i].state], checks[i].name, checks[i].msg);
}

static void
json_num(double v)
{
	if (v < 0)
		printf("null");
	else
		printf("%.0f", v);
}

static void
print_json(cstate worst)
{
	printf("{\"status\":\"%s\",\"code\":%d,\"checks\":[", state_name[worst], (int) worst);
	for (size_t i = 0; i < nchecks; i++)
	{
		const check *c = &checks[i];
		char		esc[sizeof(c->msg) * 6];

		json_escape(c->msg, esc, sizeof(esc));
		printf("%s{\"name\":\"%s\",\"status\":\"%s\",\"message\":\"%s\",\"value\":", i ? "," : "", c->name,
			   state_name[c->state], esc);
		json_num(c->value);
		printf(",\"warn\":");
		json_num(c->warn);
		printf(",\"crit\":");
		json_num(c->crit);
		if (c->unit)
			printf(",\"unit\":\"%s\"", c->unit);
		else
			printf(",\"unit\":null");
		printf("}");
	}
	printf("]}\n");
}

static void
prom_metric(FILE *f, const char *name, const char *help, double v)
{
	if (v < 0)
		return;					/* unknown: absent, not a made-up number */
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.0f\n", name, help, name, name, v);
}

/* node_exporter textfile: a temporary file in the same directory, fsync'd,
 * renamed over FILE (the collector only reads *.prom, and never sees half) */
static int
write_prometheus(const char *path, cstate worst, pgark_err *err)
{
	char		dir[PATH_MAX], tmp[PATH_MAX];
	int			fd;
	FILE	   *f;
	int			ok;

	path_dirname(path, dir, sizeof(dir));
	if ((size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, path_basename(path), (long) getpid()) >=
		sizeof(tmp))
		return err_set(err, PGARK_ERR_USAGE, 0, "--prometheus %s: path too long", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create \"%s\"", tmp);
	if ((f = fdopen(fd, "w")) == NULL)
	{
		err_sys(err, PGARK_ERR_IO, "could not open \"%s\"", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	fprintf(f, "# HELP pgark_check_status State of each repo-check check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
			"# TYPE pgark_check_status gauge\n");
	for (size_t i = 0; i < nchecks; i++)
		fprintf(f, "pgark_check_status{check=\"%s\"} %d\n", checks[i].name, (int) checks[i].state);
	fprintf(f, "# HELP pgark_status The worst state of all checks (repo-check's exit code).\n"
			"# TYPE pgark_status gauge\npgark_status %d\n", (int) worst);
	prom_metric(f, "pgark_last_backup_age_seconds", "Seconds since the newest usable backup ended.", m_backup_age);
	prom_metric(f, "pgark_archive_lag_seconds", "Seconds the oldest WAL segment waiting to be archived has waited.",
				m_archive_lag);
	prom_metric(f, "pgark_archive_pending_segments", "WAL segments waiting to be archived.", m_pending);
	prom_metric(f, "pgark_wal_newest_age_seconds", "Seconds since the newest WAL segment in the repository was stored.",
				m_wal_age);
	prom_metric(f, "pgark_repo_free_bytes", "Free bytes on the local repository's filesystem.", m_free);
	prom_metric(f, "pgark_key_age_seconds", "Seconds since the master key began wrapping the data keys.", m_key_age);
	prom_metric(f, "pgark_last_verify_age_seconds", "Seconds since the last repo-verify ended.", m_verify_age);
	prom_metric(f, "pgark_last_verify_ok", "1 if the last repo-verify found everything sound, else 0.", m_verify_ok);
	prom_metric(f, "pgark_last_drill_age_seconds", "Seconds since the last restore drill ended.", m_drill_age);
	prom_metric(f, "pgark_last_drill_ok", "1 if the last restore drill passed, else 0.", m_drill_ok);
	prom_metric(f, "pgark_last_drill_rto_seconds", "The last restore drill's recovery time (restore + replay).",
				m_drill_rto);
	if (m_ndumps > 0)
		fprintf(f, "# HELP pgark_last_dump_age_seconds Seconds since the newest full logical dump of the database "
				"was stored.\n# TYPE pgark_last_dump_age_seconds gauge\n");
	for (size_t i = 0; i < m_ndumps; i++)
	{
		char		lbl[4 * DUMP_NAME_MAX + 1];
		size_t		o = 0;

		/* a label value: backslash, double quote and newline escaped */
		for (const char *q = m_dumps[i].db; *q && o + 3 < sizeof(lbl); q++)
		{
			if (*q == '\\' || *q == '"')
				lbl[o++] = '\\';
			if (*q == '\n')
			{
				lbl[o++] = '\\';
				lbl[o++] = 'n';
				continue;
			}
			lbl[o++] = *q;
		}
		lbl[o] = '\0';
		fprintf(f, "pgark_last_dump_age_seconds{database=\"%s\"} %.0f\n", lbl, m_dumps[i].age);
	}
	fprintf(f, "# HELP pgark_check_timestamp_seconds When repo-check ran.\n"
			"# TYPE pgark_check_timestamp_seconds gauge\npgark_check_timestamp_seconds %lld\n",
			(long long) time(NULL));
	ok = fflush(f) == 0 && fsync(fd) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok)
	{
		err_sys(err, PGARK_ERR_IO, "could not write \"%s\"", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not rename \"%s\" to \"%s\"", tmp, path);
		unlink(tmp);
		return -1;
	}
	return fsync_dir(dir, err);
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"json", no_argument, NULL, 1100},
		{"prometheus", required_argument, NULL, 1101},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "repo-check",
		.kind = PROG_NAGIOS,
		.usage = "",
		.help = "Check the health of the backups: the newest backup's age, archiving (failures,\n"
		"lag, the newest segment stored), the repository (reachable, writable, free\n"
		"space), the key (present, mode, opening the data key; its age against\n"
		"[crypto] rotate_after), the last repo-verify result, the last restore drill and\n"
		"the age of each database's newest logical dump.\n"
		"Thresholds: [check].\n"
		"Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the Nagios convention).\n"
		"\nOptions:\n"
		"      --json             print the result as JSON on stdout (schema in the README)\n"
		"      --prometheus FILE  also write the metrics to FILE for node_exporter's\n"
		"                         textfile collector (atomically)",
	};
	pgark_err	err, open_err;
	repo	   *r;
	repo_inventory inv;
	pg_archiver_state as;
	int			rc, have_as = 0, reachable;
	int64_t		now;
	cstate		worst = ST_OK;
	int			prom_failed = 0;
	char		where[1200];

	err_clear(&err);
	err_clear(&open_err);
	if ((rc = prog_start(&p, argc, argv, extra, "", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	config_repo_where(&p.cfg, where, sizeof(where));
	now = (int64_t) time(NULL);

	check_repository(&p.cfg, where);
	reachable = checks[0].state == ST_OK || checks[0].state == ST_WARNING;
	check_free_space(&p.cfg, reachable);
	r = reachable ? repo_open(&p.cfg, &open_err) : NULL;
	if (r == NULL && reachable && open_err.kind != PGARK_ERR_KEY)
		set_state(&checks[0], ST_CRITICAL, "%s cannot be opened: %s", where, open_err.msg);
	check_key(r, &p.cfg, &open_err);
	check_key_age(r, &p.cfg, now);
	check_archiver(&p.cfg, &as, &have_as, r ? r->meta.wal_seg_size : 16u << 20);
	if (r != NULL && repo_inventory_read(r, &inv, &err) == 0)
	{
		check_backup(&inv, &p.cfg, now);
		check_wal(&inv, have_as ? &as : NULL, now);
		repo_inventory_free(&inv);
	}
	else
	{
		const char *why = r ? err.msg : "the repository cannot be opened";

		set_state(add_check("backup"), ST_UNKNOWN, "not checked: %s", why);
		set_state(add_check("wal"), ST_UNKNOWN, "not checked: %s", why);
	}
	if (r != NULL)
	{
		check_verify(r, &p.cfg, now);
		check_drill(r, &p.cfg, now);
		check_dumps(r, &p.cfg, now);
	}
	else
	{
		set_state(add_check("verify"), ST_UNKNOWN, "not checked: the repository cannot be opened");
		set_state(add_check("drill"), ST_UNKNOWN, "not checked: the repository cannot be opened");
		set_state(add_check("dumps"), ST_UNKNOWN, "not checked: the repository cannot be opened");
	}
	repo_close(r);

	/* the worst: CRITICAL, then WARNING, then UNKNOWN (a check that could
	 * not run hides no known problem), then OK */
	for (size_t i = 0; i < nchecks; i++)
		if (severity(checks[i].state) > severity(worst))
			worst = checks[i].state;
	if (opt_json)
		print_json(worst);
	else
		print_human(worst);
	if (opt_prometheus && write_prometheus(opt_prometheus, worst, &err) != 0)
	{
		/* the metrics are lost, not the result: it still alerts and exits
		 * with the worst state (UNKNOWN at least) */
		log_error("%s", err.msg);
		prom_failed = 1;
		if (severity(ST_UNKNOWN) > severity(worst))
			worst = ST_UNKNOWN;
	}
	if (worst != ST_OK)
	{
		char		detail[512];
		size_t		n = 0;

		detail[0] = '\0';
		if (prom_failed)
			n += (size_t) snprintf(detail, sizeof(detail), "prometheus file not written");
		for (size_t i = 0; i < nchecks && n < sizeof(detail); i++)
			if (checks[i].state != ST_OK)
				n += (size_t) snprintf(detail + n, sizeof(detail) - n, "%s%s %s", n ? ", " : "", checks[i].name,
									   state_name[checks[i].state]);
		prog_audit(&p, "check", where, state_name[worst], detail, 0, 0);
		{
			char		summary[600];

			snprintf(summary, sizeof(summary), "%s: %s", state_name[worst], detail);
			/* a new alert whenever the state or the failing checks change */
			p.alert_signature = summary;
			prog_alert(&p, 1, summary);	/* WARNING or worse (UNKNOWN too: nobody can tell) */
		}
	}
	else
		prog_alert(&p, 0, NULL);
	if (fflush(stdout) != 0)
		return 3;
	return (int) worst;
}
