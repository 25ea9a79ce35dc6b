/*
 * util.h — small helpers shared by the library: byte order, hex, whole reads
 * and writes that survive EINTR and short counts, durable file operations.
 */
#ifndef PGARK_UTIL_H
#define PGARK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

static inline void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}
static inline void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}
static inline void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t) (v >> 32));
	put_be32(p + 4, (uint32_t) v);
}
static inline uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}
static inline uint32_t
get_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}
static inline uint64_t
get_be64(const uint8_t *p)
{
	return ((uint64_t) get_be32(p) << 32) | get_be32(p + 4);
}
static inline uint32_t
get_le32(const uint8_t *p)
{
	return ((uint32_t) p[3] << 24) | ((uint32_t) p[2] << 16) |
		((uint32_t) p[1] << 8) | (uint32_t) p[0];
}
static inline uint64_t
get_le64(const uint8_t *p)
{
	return ((uint64_t) get_le32(p + 4) << 32) | get_le32(p);
}
static inline uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void		hex_encode(const uint8_t *in, size_t n, char *out);
/* Parse exactly 2n hex digits; returns 0 or -1. */
int			hex_decode(const char *in, uint8_t *out, size_t n);

/* read() until n bytes or EOF; returns bytes read or -1 (errno set). */
ssize_t		read_full(int fd, void *buf, size_t n);
/* write() all n bytes; -1 on error with errno set (ENOSPC for a short write
 * that reports no error, as PostgreSQL assumes). */
int			write_full(int fd, const void *buf, size_t n);
/* pwrite all n bytes at off (again after EINTR or a short write); 0 or -1
 * with errno (ENOSPC for a write that stores nothing). */
int			pwrite_full(int fd, const void *buf, size_t n, off_t off);

/* fsync the directory that holds path (or the directory itself if is_dir). */
int			fsync_dir(const char *dir, pgark_err *err);
/* mkdir -p with the given mode for created components. */
int			mkdir_p(const char *path, mode_t mode, pgark_err *err);

/* Directory part of path into out (like dirname, without modifying path). */
void		path_dirname(const char *path, char *out, size_t outlen);
/* path if absolute or base is empty, else base/path; -1 if it does not fit. */
int			path_resolve(const char *base, const char *path, char *out, size_t outlen);
/* Last component of path. */
const char *path_basename(const char *path);

/* Monotonic milliseconds, for durations. */
double		now_ms(void);
/* Sleep ms milliseconds (again after a signal). */
void		sleep_ms(unsigned long ms);
/* UTC time as ISO 8601 with milliseconds: 2026-11-27T02:40:33.123Z */
void		iso8601_now(char *out, size_t outlen);
void		iso8601_from_unix(int64_t secs, char *out, size_t outlen);
/* "YYYY-MM-DDTHH:MM:SSZ" to seconds since the epoch: 0, or -1 if not one */
int			iso8601_parse(const char *s, int64_t *out);

/* Overwrite memory that held secrets; not optimised away. */
void		secure_zero(void *p, size_t n);

/*
 * A buffer of n bytes for bulk data (NULL when out of memory; free() it):
 * from n >= 2 MiB on, aligned to and backed by transparent huge pages where
 * the kernel offers them (madvise mode), so that filling it fresh costs a
 * page fault per 2 MiB instead of one per 4 KiB.
 */
void	   *alloc_bulk(size_t n);

#endif
