/*
 * manifest.h — a base backup's manifest: base/<backup-id>/manifest, one
 * encrypted object of text lines (FORMAT.md "Manifest"). The head (times,
 * LSNs, backup_label, tablespace_map) comes first, so listing backups reads
 * only the start of each manifest; then one entry per directory, tablespace
 * and file in pgdir_pathcmp order, each file with its chunk references.
 * Written last: a backup exists exactly when its manifest does. Chunk
 * references are streamed both ways: memory does not grow with file size.
 */
#ifndef PGARK_MANIFEST_H
#define PGARK_MANIFEST_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "pack.h"
#include "repo.h"

#define MF_MAGIC "pgark-manifest 1"

typedef struct mf_head
{
	char		backup_id[64];
	uint64_t	sysid;
	int			pg_version;
	uint32_t	timeline;
	uint64_t	start_lsn;
	uint64_t	stop_lsn;
	char		start_wal[32];
	char		stop_wal[32];
	int64_t		start_time;		/* seconds since the epoch, UTC */
	int64_t		stop_time;
	char		label[256];
	uint32_t	chunk_size;
	uint64_t	files;
	uint64_t	bytes_total;	/* size of everything backed up */
	uint64_t	bytes_stored;	/* new bytes this backup stored */
	uint64_t	bytes_reused;	/* bytes found in the repository already */
	uint64_t	bad_checksums;
	char	   *backup_label;	/* malloc'd, NUL-terminated */
	char	   *tablespace_map; /* malloc'd, may be empty */
	char		stop_snapshot[4096];	/* pg_current_snapshot() after the stop, "" if unknown */
} mf_head;

/* Had transaction xid finished (committed or aborted) when the backup
 * ended? 1 yes, 0 no, -1 unknown. A 32-bit xid is taken in the epoch of the
 * snapshot. */
int			mf_xid_finished_at_stop(const mf_head *h, uint64_t xid);

void		mf_head_free(mf_head *h);

typedef enum mf_kind
{
	MF_DIR,
	MF_TABLESPACE,
	MF_FILE
} mf_kind;

typedef struct mf_entry
{
	mf_kind		kind;
	char		path[PATH_MAX];
	mode_t		mode;
	uint64_t	size;
	int64_t		mtime;
	uint64_t	nchunks;		/* MF_FILE: ceil(size / chunk size); read them with mf_chunks */
	char		target[PATH_MAX];	/* MF_TABLESPACE */
} mf_entry;

typedef struct mf_writer mf_writer;

/* The body is spooled to an unnamed file in spool_dir (or $TMPDIR). */
mf_writer  *mf_writer_new(const char *spool_dir, pgark_err *err);
int			mf_add_dir(mf_writer *w, const char *path, mode_t mode, pgark_err *err);
int			mf_add_tablespace(mf_writer *w, const char *path, const char *target, pgark_err *err);
/* A file: begin (its chunk count follows from size), then exactly that many
 * chunks, then end. */
int			mf_file_begin(mf_writer *w, const char *path, mode_t mode, uint64_t size, int64_t mtime,
						  pgark_err *err);
int			mf_file_chunk(mf_writer *w, const chunk_ref *ref, pgark_err *err);
int			mf_file_end(mf_writer *w, pgark_err *err);
/* All at once (small files, tests). */
int			mf_add_file(mf_writer *w, const char *path, mode_t mode, uint64_t size, int64_t mtime,
						uint64_t nchunks, const chunk_ref *chunks, pgark_err *err);
/* Write base/<head->backup_id>/manifest: head, then the body. */
int			mf_writer_commit(mf_writer *w, repo *r, const mf_head *head, pgark_err *err);
void		mf_writer_free(mf_writer *w);

typedef struct mf_reader mf_reader;

/* Open a backup's manifest and read its head (head strings owned by caller:
 * mf_head_free). */
mf_reader  *mf_open(repo *r, const char *backup_id, mf_head *head, pgark_err *err);
/* Next entry: 1 with *e set, 0 at the verified end, -1 on error. Chunks of
 * a file not read with mf_chunks are skipped (and still checked). */
int			mf_next(mf_reader *rd, mf_entry **e, pgark_err *err);
/* The current file's next chunk references, up to max: *got (0 when all
 * were read). */
int			mf_chunks(mf_reader *rd, chunk_ref *out, uint32_t max, uint32_t *got, pgark_err *err);
void		mf_close(mf_reader *rd);
/* The packs declared so far (all of them once mf_next returned 0). */
size_t		mf_npacks(const mf_reader *rd);
const uint8_t *mf_pack_id(const mf_reader *rd, size_t i);

/* Backup ids with a manifest, oldest first (ids sort by time). */
int			mf_list_backups(repo *r, char ***ids, size_t *n, pgark_err *err);
void		mf_free_list(char **ids, size_t n);

/* A path from a manifest is safe to create below a directory: relative, no
 * empty, "." or ".." component, no control characters. */
int			mf_path_safe(const char *path);
/* A chunk line, "c <64 hex id> <pack number> <offset> <length>", strictly
 * (decimal numbers without sign or spaces): 0, or -1 if malformed. */
int			mf_parse_chunk_line(const char *line, uint8_t id[CHUNK_ID_LEN], unsigned long long *pack,
								unsigned long long *offset, unsigned long long *len);

/* LSN text "X/X" */
void		lsn_format(uint64_t lsn, char *out, size_t outlen);
int			lsn_parse(const char *s, uint64_t *lsn);

#endif
