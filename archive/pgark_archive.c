/*
 * pgark_archive.so — wal-push inside PostgreSQL's archiver process, through
 * the archive_library API: no process start, configuration parse or key
 * unwrap per segment.
 *
 *   archive_mode = on
 *   archive_library = 'pgark_archive'          # or an absolute path to the .so
 *   pgark.config = '/etc/pgark/pgark.conf'     # default: $PGARK_CONFIG, then /etc/pgark/pgark.conf
 *
 * The contract is wal-push's, exactly: a file is reported archived (true)
 * only once it is durably stored, or was already archived with identical
 * content; every failure is a WARNING with pgark's message and false, so
 * PostgreSQL keeps the file and retries. Never an ERROR: in PostgreSQL 15 an
 * ERROR inside the archiver ends the process.
 *
 * What is kept between calls (a static, for the life of the archiver): the
 * configuration, the open repository and its keys. It is opened on the first
 * call and dropped — reopened on the next call — when
 *   - pgark.config names another file (after a reload: pg_reload_conf(), SIGHUP),
 *   - the configuration file or [crypto] key_file changed (a stat per call:
 *     device, inode, size, mtime, ctime — a chmod counts),
 *   - pgark.repo in the repository is gone or changed (a stat, or on S3 a
 *     HEAD, per call: the repository moved, was re-initialised, unmounted),
 *   - any call failed (the fault may have been transient).
 * With [crypto] key_command the command runs once per opening, i.e. once
 * per archiver process and again after each failure or change above; not
 * per segment.
 *
 * Look-ahead ([archive] push_ahead, as wal-push's): a call that finds other
 * segments .ready stores them too, on threads that live only inside the
 * call, and keeps a record of each in memory (push_memo; kept when the
 * repository is opened afresh, dropped when the one opened is another); the
 * calls for them check the record against the file and the repository and
 * return. Those threads never call into PostgreSQL: what
 * they report is logged here, on the archiver's own thread.
 */
#include "postgres.h"

#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmgr.h"
#include "utils/guc.h"
#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
#endif

#include "alert.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "pushahead.h"
#include "repo.h"
#include "store.h"
#include "util.h"
#include "wal.h"
#include "walarchive.h"

#define PROGRAM "pgark_archive"

PG_MODULE_MAGIC;

extern PGDLLEXPORT void _PG_init(void);
#if PG_VERSION_NUM >= 160000
extern PGDLLEXPORT const ArchiveModuleCallbacks *_PG_archive_module_init(void);
#else
extern PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb);
#endif

/* the GUC pgark.config */
static char *pgark_config_guc = NULL;

/* a file's identity, to notice that it changed */
typedef struct file_id
{
	int			ok;				/* stat succeeded */
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec mtime;
	struct timespec ctime;
} file_id;

static struct
{
	repo	   *r;				/* NULL: not open */
	pgark_config cfg;			/* r->cfg points here */
	char		guc[PATH_MAX];	/* pgark.config when opened */
	char		conf_path[PATH_MAX];	/* the file read */
	file_id		conf_id;
	file_id		key_id;			/* [crypto] key_file, if used */
	store_stat	meta;			/* pgark.repo when opened */
	int			have_cfg;		/* cfg loaded (for the audit log) */
	workers    *wk;				/* seal a segment's frames; NULL: one at a time */
	push_memo  *memo;			/* look-ahead records; NULL: none yet */
	char		memo_repo[PATH_MAX + 1300];	/* the repository they are of */
	int			trim_due;		/* a look-ahead stored others since the last trim */
} cache;

static void
file_id_of(const char *path, file_id *id)
{
	struct stat sb;

	memset(id, 0, sizeof(*id));
	if (stat(path, &sb) != 0)
		return;
	id->ok = 1;
	id->dev = sb.st_dev;
	id->ino = sb.st_ino;
	id->size = sb.st_size;
	id->mtime = sb.st_mtim;
	id->ctime = sb.st_ctim;
}

static int
file_id_same(const file_id *a, const file_id *b)
{
	return a->ok && b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
		a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static const char *
guc_value(void)
{
	return pgark_config_guc ? pgark_config_guc : "";
}

/* The file config_load reads for this GUC value (the same rule as its own). */
static const char *
config_path_for(const char *guc)
{
	const char *env;

	if (guc[0] != '\0')
		return guc;
	env = getenv("PGARK_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	return PGARK_DEFAULT_CONFIG;
}

static int
uses_key_file(const pgark_config *cfg)
{
	return !config_cipher_is_none(cfg) && cfg->key_command[0] == '\0' && cfg->key_file[0] != '\0';
}

static void
cache_drop(void)
{
	repo_close(cache.r);
	cache.r = NULL;
	workers_free(cache.wk);		/* their number may come from the new config */
	cache.wk = NULL;
	/* the look-ahead records stay: a failure of one segment says nothing of
	 * those stored ahead (each is still checked against the store when
	 * used); cache_open drops them if the repository opened is another */
	/* it may hold an S3 secret key */
	secure_zero(&cache.cfg, sizeof(cache.cfg));
	cache.have_cfg = 0;
}

/* The look-ahead records are kept only for the repository they were made
 * in: the same place (type, endpoint, where) and the same pgark.repo. */
static void
memo_keep_if_same_repo(void)
{
	char		place[1200 + PATH_MAX];
	char		id[sizeof(cache.memo_repo)];

	snprintf(id, sizeof(id), "%s\n%llu\n%s", config_repo_id(&cache.cfg, place, sizeof(place)),
			 (unsigned long long) cache.r->meta.sysid, cache.r->meta.created);
	if (strcmp(id, cache.memo_repo) == 0)
		return;
	push_memo_free(cache.memo);
	cache.memo = NULL;
	snprintf(cache.memo_repo, sizeof(cache.memo_repo), "%s", id);
}

/* Is the open repository still valid for the current settings and files? */
static int
cache_valid(void)
{
	file_id		id;
	store_stat	st;
	pgark_err	err;

	if (cache.r == NULL)
		return 0;
	if (strcmp(cache.guc, guc_value()) != 0)
		return 0;
	file_id_of(cache.conf_path, &id);
	if (!file_id_same(&id, &cache.conf_id))
		return 0;
	if (uses_key_file(&cache.cfg))
	{
		file_id_of(cache.cfg.key_file, &id);
		if (!file_id_same(&id, &cache.key_id))
			return 0;
	}
	err_clear(&err);
	if (store_head(cache.r->st, REPO_META_NAME, &st, &err) != 0 ||
		st.size != cache.meta.size || st.mtime != cache.meta.mtime)
		return 0;
	return 1;
}

/* Open (or keep) the repository. */
static int
cache_open(pgark_err *err)
{
	const char *guc = guc_value();

	if (cache_valid())
		return 0;
	cache_drop();
	snprintf(cache.guc, sizeof(cache.guc), "%s", guc);
	snprintf(cache.conf_path, sizeof(cache.conf_path), "%s", config_path_for(guc));
	/* the identities first: a change while opening is seen next time */
	file_id_of(cache.conf_path, &cache.conf_id);
	if (config_load(&cache.cfg, guc[0] ? guc : NULL, err) != 0)
		return -1;
	cache.have_cfg = 1;
	if (uses_key_file(&cache.cfg))
		file_id_of(cache.cfg.key_file, &cache.key_id);
	if ((cache.r = repo_open(&cache.cfg, err)) == NULL)
		return -1;
	if (store_head(cache.r->st, REPO_META_NAME, &cache.meta, err) != 0)
	{
		err_prefix(err, "repository %s", cache.r->st->where);
		repo_close(cache.r);
		cache.r = NULL;
		return -1;
	}
	memo_keep_if_same_repo();
	return 0;
}

static void
audit_action(const char *action, const char *object, const char *result, const char *detail, uint64_t bytes,
			 uint64_t stored, double t0)
{
	audit_rec	rec = {
		.program = PROGRAM,
		.action = action,
		.object = object,
		.result = result,
		.detail = detail,
		.bytes = bytes,
		.stored = stored,
		.duration_ms = now_ms() - t0,
	};
	pgark_err	err;

	if (!cache.have_cfg || cache.cfg.audit[0] == '\0')
		return;
	err_clear(&err);
	if (audit_append(cache.cfg.audit, &rec, &err) != 0)
		ereport(WARNING, (errmsg(PROGRAM ": %s", err.msg)));
}

static void
audit(const char *object, const char *result, const char *detail, uint64_t bytes, uint64_t stored, double t0)
{
	audit_action("push", object, result, detail, bytes, stored, t0);
}

/* [alert]: this call's outcome (needs the configuration: a failure to read
 * it alerts nobody). Never changes the call's result. */
static void
alert_outcome(int failing, const char *msg)
{
	pgark_err	err;
	alert_status sent;

	if (!cache.have_cfg)
		return;
	err_clear(&err);
	if (alert_report(&cache.cfg, PROGRAM, failing, msg, &sent, &err) != 0)
		ereport(WARNING, (errmsg(PROGRAM ": %s", err.msg)));
	else if (sent != ALERT_NONE)
		ereport(LOG, (errmsg(PROGRAM ": alert sent (%s)", alert_status_name(sent))));
}

static bool
pgark_archive_configured(void)
{
	const char *path = config_path_for(guc_value());
	struct stat sb;

	if (stat(path, &sb) != 0 && errno == ENOENT)
	{
		ereport(WARNING,
				(errmsg(PROGRAM ": configuration file \"%s\" does not exist", path),
				 errhint("Set pgark.config to pgark's configuration file.")));
		return false;
	}
	return true;
}

/*
 * A backlog's look-ahead leaves its threads' buffers (read buffers, frames,
 * on S3 each compressed segment) free in glibc's arenas, where the archiver
 * would keep them for its life: about 30 MiB after a backlog on S3 with
 * transfers = 4. They are given back once the backlog is over (a call whose
 * look-ahead found nothing else .ready), not after each batch (their pages
 * would only be faulted in again).
 */
static void
release_burst_memory(int took_others)
{
	if (took_others)
		cache.trim_due = 1;
	else if (cache.trim_due)
	{
#ifdef __GLIBC__
		malloc_trim(0);
#endif
		cache.trim_due = 0;
	}
}

static bool
pgark_archive_file(const char *file, const char *path)
{
	double		t0 = now_ms();
	pgark_err	err;
	walname		wn;
	wal_push_result res;
	int			pushed = 0;
	int			rc = -1;

	err_clear(&err);
	memset(&res, 0, sizeof(res));
	/* the name is checked before any I/O */
	if (walname_parse(file, &wn, &err) != 0)
	{
		ereport(WARNING, (errmsg(PROGRAM ": %s", err.msg)));
		alert_outcome(1, err.msg);
		return false;
	}
	if (cache_open(&err) != 0)
	{
		audit(wn.name, err_kind_name(err.kind), err.msg, 0, 0, t0);
		ereport(WARNING,
				(errmsg(PROGRAM ": %s", err.msg[0] ? err.msg : err_kind_name(err.kind)),
				 errdetail("\"%s\" stays in pg_wal and is archived again later.", file),
				 err.kind == PGARK_ERR_CONFIG ?
				 errhint("pgark.config = '%s' (empty: $PGARK_CONFIG, then %s).", guc_value(), PGARK_DEFAULT_CONFIG) : 0));
		alert_outcome(1, err.msg[0] ? err.msg : err_kind_name(err.kind));
		cache_drop();
		return false;
	}
	/* threads that only ever run pgark's own code (never PostgreSQL's),
	 * with every signal blocked; kept for the archiver's life */
	if (cache.wk == NULL && (wn.kind == WAL_SEGMENT || wn.kind == WAL_PARTIAL))
	{
		cache.wk = workers_new(wal_push_threads(&cache.cfg), &err);
		err_clear(&err);		/* none: the same work on this thread */
		workers_set_spin(cache.wk, WAL_PUSH_SPIN_US);
	}
	if (wn.kind == WAL_SEGMENT && cache.cfg.push_ahead > 0 && cache.memo == NULL)
	{
		cache.memo = push_memo_new(&err);
		err_clear(&err);		/* none: no look-ahead */
	}
	if (wn.kind == WAL_SEGMENT && cache.cfg.push_ahead > 0 && cache.memo != NULL)
	{
		/* the look-ahead of wal-push, its records kept in this process */
		push_records recs = {.memo = cache.memo};
		push_ahead_result *ahead;
		int			c = push_record_confirm(cache.r, &recs, path, &wn, &res, &err);

		if (c == 1)
		{
			audit(res.object, "ok", "stored ahead by an earlier call", res.bytes, res.stored, t0);
			if (cache.cfg.log_level >= LOG_LEVEL_DEBUG)
				ereport(LOG, (errmsg(PROGRAM ": %s was stored ahead (%.1f ms)", file, now_ms() - t0)));
			alert_outcome(0, NULL);
			return true;
		}
		if (c < 0)
		{
			ereport(WARNING, (errmsg(PROGRAM ": could not confirm the look-ahead record of %s, pushing it again: %s",
									 file, err.msg)));
			err_clear(&err);
		}
		if ((ahead = malloc(sizeof(*ahead))) != NULL)
		{
			pushed = 1;
			rc = wal_push_ahead(cache.r, &recs, path, &wn, cache.cfg.push_ahead, push_ahead_threads(&cache.cfg),
								cache.wk, NULL, NULL, &res, ahead, &err);
			release_burst_memory(ahead->nitems > 0);
			for (int i = 0; i < ahead->nitems; i++)
			{
				push_ahead_item *it = &ahead->items[i];
				push_ahead_report d;

				if (!push_ahead_describe(it, &d))
					continue;
				audit_action("push-ahead", d.object, d.result, d.detail, d.bytes, d.stored, t0);
				if (d.warn)
					ereport(WARNING, (errmsg(PROGRAM ": look-ahead for %s: %s", it->name, it->err.msg),
									  errdetail("Its own call will push it.")));
			}
			free(ahead);
		}
	}
	if (!pushed)
		rc = wal_push_file_wk(cache.r, path, &wn, cache.wk, &res, &err);
	if (rc != 0)
	{
		int			conflict = (err.kind == PGARK_ERR_CONFLICT || err.kind == PGARK_ERR_MISMATCH);

		audit(res.object[0] ? res.object : wn.name, err_kind_name(err.kind), err.msg, res.bytes, 0, t0);
		ereport(WARNING,
				(errmsg(PROGRAM ": %s", err.msg[0] ? err.msg : err_kind_name(err.kind)),
				 pushed ?
				 errdetail("\"%s\" stays in pg_wal and PostgreSQL will retry; it was not stored.", file) :
				 errdetail("\"%s\" stays in pg_wal and PostgreSQL will retry; nothing in the repository was changed.", file),
				 conflict ?
				 errhint("Find out which cluster wrote %s before anything else.", res.object[0] ? res.object : wn.name) : 0));
		alert_outcome(1, err.msg[0] ? err.msg : err_kind_name(err.kind));
		/* the fault may have been transient: open afresh next time */
		cache_drop();
		return false;
	}
	audit(res.object, res.outcome == WAL_PUSH_STORED ? "ok" : "exists",
		  res.outcome == WAL_PUSH_STORED ? NULL : "already archived with identical content",
		  res.bytes, res.stored, t0);
	if (res.outcome == WAL_PUSH_STORED)
	{
		if (cache.cfg.log_level >= LOG_LEVEL_DEBUG)
			ereport(LOG, (errmsg(PROGRAM ": stored %s as %s (%llu bytes, %llu stored, %.1f ms)", file, res.object,
								 (unsigned long long) res.bytes, (unsigned long long) res.stored, now_ms() - t0)));
	}
	else if (cache.cfg.log_level >= LOG_LEVEL_INFO)
		ereport(LOG, (errmsg(PROGRAM ": %s was already archived with identical content", file)));
	alert_outcome(0, NULL);
	return true;
}

static void
pgark_archive_shutdown(void)
{
	cache_drop();
	push_memo_free(cache.memo);
	cache.memo = NULL;
}

#if PG_VERSION_NUM >= 160000

static bool
check_configured_cb(ArchiveModuleState *state)
{
	(void) state;
	return pgark_archive_configured();
}

static bool
archive_file_cb(ArchiveModuleState *state, const char *file, const char *path)
{
	(void) state;
	return pgark_archive_file(file, path);
}

static void
shutdown_cb(ArchiveModuleState *state)
{
	(void) state;
	pgark_archive_shutdown();
}

static const ArchiveModuleCallbacks callbacks = {
	.startup_cb = NULL,
	.check_configured_cb = check_configured_cb,
	.archive_file_cb = archive_file_cb,
	.shutdown_cb = shutdown_cb,
};

const ArchiveModuleCallbacks *
_PG_archive_module_init(void)
{
	return &callbacks;
}

#else

void
_PG_archive_module_init(ArchiveModuleCallbacks *cb)
{
	cb->check_configured_cb = pgark_archive_configured;
	cb->archive_file_cb = pgark_archive_file;
	cb->shutdown_cb = pgark_archive_shutdown;
}

#endif

void
_PG_init(void)
{
	DefineCustomStringVariable("pgark.config",
							   "pgark's configuration file for pgark_archive.",
							   "Empty: $PGARK_CONFIG, then " PGARK_DEFAULT_CONFIG ".",
							   &pgark_config_guc,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("pgark");
}
