/*
 * backup.h — one base backup of a running cluster (the work of base-push).
 */
#ifndef PGARK_BACKUP_H
#define PGARK_BACKUP_H

#include <stdint.h>

#include "err.h"
#include "repo.h"

typedef void (*progress_fn) (void *arg, uint64_t done, uint64_t total);

typedef struct backup_opts
{
	int			fast;			/* pg_backup_start(fast => true) */
	int			full_read;		/* read every file, even unchanged ones */
	const char *label;
	progress_fn progress;		/* may be NULL */
	void	   *progress_arg;
	/* called for each page with a bad checksum (path, block); may be NULL */
	void		(*bad_page) (void *arg, const char *path, uint32_t block);
	void	   *bad_page_arg;
} backup_opts;

typedef struct backup_result
{
	char		backup_id[64];
	uint64_t	start_lsn, stop_lsn;
	uint32_t	timeline;
	int64_t		start_time, stop_time;
	uint64_t	files, files_reused;
	uint64_t	bytes_total;	/* size of all files backed up */
	uint64_t	bytes_read;		/* read from disk (files not reused unread) */
	uint64_t	bytes_new;		/* plaintext of the chunks stored anew */
	uint64_t	bytes_stored;	/* what those took in the repository (packs) */
	uint64_t	bytes_reused;	/* bytes not stored again */
	uint64_t	chunks_new, chunks_reused;
	uint64_t	bad_checksums;
	int			data_checksums;
	char		warning[1200];	/* something the operator should know, or "" */
	int			workers;		/* threads that hashed and encoded chunks */
} backup_result;

int			backup_run(repo *r, const backup_opts *o, backup_result *res, pgark_err *err);

/* An id for something started at t: YYYYMMDDTHHMMSSZ-xxxx (UTC, 4 random
 * hex digits), so that ids sort by time (backups, dumps). */
void		backup_make_id(char *out, size_t outlen, int64_t t);

#endif
