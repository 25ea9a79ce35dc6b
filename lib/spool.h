/*
 * spool.h — the local working space under [archive] spool. Each repository
 * gets its own directories there, one per purpose ("push" for wal-push's
 * look-ahead records, "fetch" for wal-fetch's prefetched segments), named
 * after a hash of where the repository is, so two repositories sharing a
 * spool never see each other's files.
 */
#ifndef PGARK_SPOOL_H
#define PGARK_SPOOL_H

#include <stddef.h>

#include "config.h"
#include "err.h"

/*
 * Put into out the directory <spool>/<purpose>-<16 hex digits> for the
 * repository cfg names, creating it (mode 0700) if needed. Returns 0, 1 if
 * [archive] spool is not set (the caller then works without a spool), or -1
 * if the directory cannot be made or is not safe to use: not a directory,
 * owned by another user, or writable by group or others.
 */
int			spool_dir(const pgark_config *cfg, const char *purpose, char *out, size_t outlen,
					  pgark_err *err);

/*
 * A helper's lock in a spool directory: the file dir/name, flock'ed
 * exclusively by the helper for its life (released by the kernel when it
 * dies, however it dies). spool_lock_take: 0 locked (*fd to keep open),
 * 1 another process has it, -1 error. The file holds the holder's pid, for
 * people (and tests) looking for it. spool_lock_held: does a process hold it?
 * spool_lock_release: let it go, the pid cleared first (*fd becomes -1).
 */
int			spool_lock_take(const char *dir, const char *name, int *fd, pgark_err *err);
int			spool_lock_held(const char *dir, const char *name);
void		spool_lock_release(int *fd);

#endif
