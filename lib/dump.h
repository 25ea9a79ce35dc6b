/*
 * dump.h — logical dumps (dump-push, dump-fetch): pg_dump -Fc and
 * pg_dumpall --globals-only streamed through the object pipeline into
 * dumps/<db>/<dump-id>/ (FORMAT.md section 8), and streamed back.
 *
 * A dump is two objects: data (pg_dump's output, written first) and meta
 * (a small text record, written last: a dump exists exactly when its meta
 * exists). Nothing of a dump is ever written to local disk.
 */
#ifndef PGARK_DUMP_H
#define PGARK_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "object.h"
#include "repo.h"

#define DUMP_PREFIX "dumps/"
/* the directory of the globals (roles, tablespaces): it holds a '.', which
 * no encoded database name does, so it is never a database's */
#define DUMP_GLOBALS_DIR "pg.globals"
#define DUMP_ID_LEN 21			/* YYYYMMDDTHHMMSSZ-xxxx */
#define DUMP_NAME_MAX 64		/* a database name: NAMEDATALEN - 1 bytes */

typedef enum dump_kind
{
	DUMP_FULL,					/* pg_dump -Fc */
	DUMP_SCHEMA,				/* pg_dump -Fc --schema-only */
	DUMP_GLOBALS				/* pg_dumpall --globals-only (plain SQL) */
} dump_kind;

const char *dump_kind_name(dump_kind k);

typedef struct dump_meta
{
	char		id[DUMP_ID_LEN + 1];
	char		database[DUMP_NAME_MAX + 1];	/* "" for the globals */
	dump_kind	kind;
	int			server_version; /* server_version_num, e.g. 150004 */
	char		pg_dump_version[128];	/* first line of pg_dump --version */
	int64_t		start_time, end_time;
	uint64_t	plain_bytes, stored_bytes;
	uint8_t		sha256[SHA256_LEN]; /* of the stored data object */
} dump_meta;

/* A database name to a store component and back (FORMAT.md 8.1): bytes
 * A-Z a-z 0-9 and '-' as they are, every other byte "_xx" (2 hex digits,
 * lower case). -1 if it does not fit, or (decode) is not an encoding. */
int			dump_name_encode(const char *db, char *out, size_t outlen);
int			dump_name_decode(const char *enc, char *out, size_t outlen);

/* The directory of a dump (without DUMP_PREFIX): the encoded database or
 * DUMP_GLOBALS_DIR. */
int			dump_dir_of(const dump_meta *m, char *out, size_t outlen);

int			dump_meta_format(const dump_meta *m, char *out, size_t outlen);
int			dump_meta_parse(const char *text, size_t len, dump_meta *m, pgark_err *err);

/* What dumps/ holds. */
typedef struct dump_entry
{
	char		dir[3 * DUMP_NAME_MAX + 1];	/* component under dumps/ */
	char		id[64];
	int			has_meta, has_data;
	int64_t		mtime;			/* of data (meta when no data) */
	int			meta_ok;		/* meta read and parsed */
	dump_meta	meta;
	char		problem[512];	/* why meta could not be read */
} dump_entry;

typedef struct dump_list
{
	dump_entry *e;				/* sorted by dir, then (with meta) start time, then id:
								 * oldest first */
	size_t		n;
} dump_list;

/* List dumps/ and read every meta (read_meta = 0: names only). A meta
 * that cannot be read for a reason that says nothing of it (the store
 * unreachable, err_says_nothing_of_object) fails the listing; one removed
 * since the listing (repo-expire) leaves has_meta 0; any other failure is
 * the dump's problem (meta_ok 0, problem). */
int			dump_list_read(repo *r, int read_meta, dump_list *out, pgark_err *err);
void		dump_list_free(dump_list *l);

/* Read the meta of one entry of a listing made without them, as
 * dump_list_read does: -1 (err set) only when the failure says nothing of
 * the dump; else 0 with meta_ok, problem, or has_meta 0 (removed since). */
int			dump_entry_read_meta(repo *r, dump_entry *e, pgark_err *err);

/* The newest complete dump of a directory and kind (kind < 0: any), or
 * with id the one of that id; NULL if none. */
const dump_entry *dump_list_find(const dump_list *l, const char *dir, int kind, const char *id);

/* Is l->e[i] a complete dump, the newest of its directory and kind? */
int			dump_list_is_newest(const dump_list *l, size_t i);

/*
 * Retention of dumps ([retention] dumps_keep_last, dumps_keep_within): per
 * directory and kind, the newest keep_last and every dump started within
 * keep_within of now are kept, and always the newest; the others are
 * removed (meta first, then data). A dump whose metadata cannot be read is
 * kept; one whose data object is missing is no newer dump of any other. A data object without metadata (a dump-push that died) is removed
 * once older than DUMP_LEFTOVER_AGE. With neither rule set nothing is
 * touched. report is called for every dump (keep or not, with why) and
 * every leftover removed; dry_run removes nothing.
 */
#define DUMP_LEFTOVER_AGE (24 * 3600)
typedef void (*dump_report_fn) (void *arg, const char *object, int keep, const char *why);
int			dump_expire(repo *r, int keep_last, int64_t keep_within, int64_t now, int dry_run,
						dump_report_fn report, void *arg, size_t *kept, size_t *removed, pgark_err *err);

/* Where the dump comes from. */
typedef struct dump_source
{
	const char *conninfo;		/* [postgres] conninfo */
	const char *bindir;			/* [postgres] bindir; "" = /usr/lib/postgresql/<major>/bin */
} dump_source;

/* The server: server_version_num and (dbs non-NULL) every database --all
 * dumps: datallowconn, not template0, by name. */
int			dump_server_info(const dump_source *src, int *version_num, char ***dbs, size_t *ndbs,
							 pgark_err *err);
void		dump_free_names(char **dbs, size_t n);

/* A new dump id for a run starting now: newer than every dump's id in the
 * repository (waiting up to 2 s for the clock to pass the newest). */
int			dump_new_id(repo *r, char *out, size_t outlen, pgark_err *err);

/*
 * Run pg_dump (or pg_dumpall --globals-only for DUMP_GLOBALS, db NULL) and
 * stream its output into dumps/<dir>/<id>/data, then write meta. The
 * password of the conninfo goes to the child in PGPASSWORD, never in argv.
 * If the program fails, is killed, or its output cannot be stored, nothing
 * is committed. m is filled (id, database, kind, version set by the caller's
 * arguments).
 */
int			dump_push(repo *r, const dump_source *src, int server_version, const char *db, dump_kind kind,
					  const char *id, dump_meta *m, pgark_err *err);

/*
 * Stream the plaintext of a dump to sink (NULL: read and discard: verify).
 * Every frame authenticates, and at the end the plaintext and stored sizes
 * and the SHA-256 of the stored bytes must equal the meta's; else CORRUPT
 * naming the object. Bytes already handed to sink cannot be taken back: a
 * caller must fail loudly. A failure that says nothing of the dump keeps
 * its kind: the store unreachable (TRANSIENT), the master key (KEY), or
 * the dump removed meanwhile, meta and data (NOTFOUND); data missing under
 * an existing meta is CORRUPT. dump_err_is_damage tells them apart.
 */
int			dump_read(repo *r, const dump_meta *m, obj_sink_fn sink, void *sink_arg, pgark_err *err);

/* Does err (of dump_read, without a sink's errors) say the dump is
 * damaged: CORRUPT, MISMATCH, or a data key the repository lacks? */
int			dump_err_is_damage(const pgark_err *err);

/*
 * The database name in the header of a pg_dump custom-format archive (its
 * first bytes, len of them): 1 and the name in out; 0 if more bytes are
 * needed; -1 if buf does not start a custom-format archive (or the name
 * does not fit in out).
 */
#define DUMP_ARCHIVE_HEAD 1024	/* more than any header up to its dbname */
int			dump_archive_dbname(const uint8_t *buf, size_t len, char *out, size_t outlen);

/* Remove a dump: meta first (then it no longer exists), then data. */
int			dump_remove(repo *r, const char *dir, const char *id, pgark_err *err);

#endif
