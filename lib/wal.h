/*
 * wal.h — WAL file names and segment page headers.
 *
 * Names are parsed strictly, before any I/O: 24 upper-case hex digits (a
 * segment), the same with ".partial", 24 hex + "." + 8 hex + ".backup", or
 * 8 hex + ".history". Timelines are hexadecimal (00000010 is timeline 16).
 */
#ifndef PGARK_WAL_H
#define PGARK_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum walname_kind
{
	WAL_SEGMENT,
	WAL_PARTIAL,
	WAL_BACKUP,
	WAL_HISTORY
} walname_kind;

typedef struct walname
{
	walname_kind kind;
	uint32_t	tli;
	uint32_t	log;			/* not for history files */
	uint32_t	seg;
	uint32_t	backup_offset;	/* .backup only */
	char		name[41];		/* longest: a .backup name, 40 characters */
} walname;

int			walname_parse(const char *name, walname *out, pgark_err *err);
const char *walname_kind_str(walname_kind kind);

/* Repository object name: wal/<tli><log>/<name>, or wal/history/<name>. */
void		walname_object(const walname *wn, char *out, size_t outlen);

/* Segment number of a segment-like name for a given segment size. */
uint64_t	walname_segno(const walname *wn, uint32_t seg_size);

/* The segment segno of timeline tli as a parsed name (the inverse of
 * walname_segno). */
void		walname_segment(uint32_t tli, uint64_t segno, uint32_t seg_size, walname *out);

/* A valid WAL segment size: a power of two from 1 MiB to 1 GiB. */
int			wal_seg_size_valid(uint64_t size);

#define WAL_LONG_HEADER_LEN 40
#define XLP_LONG_HEADER 0x0002

typedef struct wal_long_header
{
	uint16_t	magic;
	uint16_t	info;
	uint32_t	tli;
	uint64_t	pageaddr;
	uint64_t	sysid;
	uint32_t	seg_size;
	uint32_t	blcksz;
} wal_long_header;

/* Parse the long page header at the start of a segment (host byte order,
 * as PostgreSQL writes it). */
int			wal_parse_long_header(const uint8_t *buf, size_t len, wal_long_header *h, pgark_err *err);

/*
 * Check that buf (the start of segment file wn) belongs to the cluster with
 * system identifier sysid and segment size seg_size, and is the segment its
 * name says (page address). Errors are MISMATCH (another cluster, wrong size)
 * or CORRUPT (not a WAL segment start).
 */
int			wal_check_segment(const walname *wn, const uint8_t *buf, size_t len,
							  uint64_t sysid, uint32_t seg_size, pgark_err *err);

/*
 * One timeline of a history: WAL from begin up to end (LSNs) is on tli.
 * begin 0: from the start of time; end 0: open-ended (the newest timeline).
 */
typedef struct wal_tl_entry
{
	uint32_t	tli;
	uint64_t	begin;
	uint64_t	end;
} wal_tl_entry;

/*
 * Parse the history file of timeline tli (text: len bytes, not necessarily
 * NUL-terminated) as PostgreSQL's readTimeLineHistory does: one line per
 * ancestor, "parentTLI<TAB>X/Y<TAB>reason" (X/Y the switch point, in hex),
 * blank lines and lines starting with '#' ignored, leading white space
 * allowed. Fills out[0..*n) newest first: tli itself (from the last switch
 * point on, end 0), then its ancestors down to the first (begin 0). Errors
 * (CORRUPT): a line without a timeline or a switch point, timelines not
 * increasing, tli not above the last one, or more than max entries.
 */
int			wal_history_parse(const char *text, size_t len, uint32_t tli, wal_tl_entry *out, size_t max,
							  size_t *n, pgark_err *err);

#endif
