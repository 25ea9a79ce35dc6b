/*
 * sigv4.h — AWS Signature Version 4 (header-based), computed with OpenSSL.
 *
 * The S3 client builds every request from the same pieces it signs: the path
 * comes from sigv4_uri_encode(), the query string sent on the wire is exactly
 * sigv4_canonical_query(), so what is signed is what is sent.
 */
#ifndef PGARK_SIGV4_H
#define PGARK_SIGV4_H

#include <stddef.h>

#include "err.h"

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct sigv4_kv
{
	const char *name;
	const char *value;			/* may be "" (a query key with no value);
								 * NULL counts as "" in a query */
} sigv4_kv;

typedef struct sigv4_request
{
	const char *method;			/* "GET", "PUT", ... */
	const char *path;			/* as sent: already URI-encoded ("/bucket/a%20b");
								 * see normalize_path */
	const sigv4_kv *query;		/* decoded names and values, any order */
	size_t		nquery;
	const sigv4_kv *headers;	/* every header to sign, including host and
								 * x-amz-date (and x-amz-security-token when
								 * using temporary credentials, so that it is
								 * signed); names in any case, values raw */
	size_t		nheaders;
	const char *payload_hash;	/* hex SHA-256 of the body or "UNSIGNED-PAYLOAD" */
	int			normalize_path; /* 0 for S3: path used as given, and it must be
								 * in the form sigv4_uri_encode(x, 1) writes
								 * (else sigv4_sign fails); 1 for other
								 * services: remove dot segments and duplicate
								 * slashes, then encode each segment again
								 * (AWS's "double encoding"; a trailing '/' is
								 * kept) */
} sigv4_request;

typedef struct sigv4_creds
{
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *service;		/* "s3" */
} sigv4_creds;

/* Intermediate results, for tests and debugging (may be NULL). malloc'd strings. */
typedef struct sigv4_debug
{
	char	   *canonical_request;
	char	   *string_to_sign;
	char		signature[65];
} sigv4_debug;

/*
 * RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
 * (A-Z a-z 0-9 - _ . ~) kept, every other byte %XX upper-case (so UTF-8 is
 * encoded byte by byte); '/' kept when keep_slash. NULL in counts as "".
 * Returns a malloc'd string or NULL (out of memory).
 */
char	   *sigv4_uri_encode(const char *in, int keep_slash);

/*
 * The canonical query string: each name and value encoded with
 * sigv4_uri_encode(keep_slash = 0), sorted by encoded name then value,
 * joined as name=value&...  ("" for none). malloc'd; NULL on out of memory.
 */
char	   *sigv4_canonical_query(const sigv4_kv *query, size_t nquery);

/*
 * Sign: amz_date is "YYYYMMDDTHHMMSSZ" (the same value as the x-amz-date
 * header among req->headers). Writes the whole Authorization header value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...") into
 * authz. dbg, if not NULL, receives the intermediate strings (free with
 * sigv4_debug_free; on failure they are NULL).  Header names are lower-cased,
 * values trimmed and inner runs of white space (space, tab, CR, LF) folded to
 * one space; duplicate names (in any case) are joined with ',' in the order
 * given. Every header given is signed.
 *
 * Returns 0, or -1 with err set and authz "": kind CONFIG when an access
 * key, secret key, region or service is missing (or the key, region or
 * service holds a space, '/', ',' or ';'); kind INTERNAL for a request the
 * caller built wrong (amz_date malformed, no host header, an x-amz-date
 * header that differs from amz_date, a header name that is not an HTTP token,
 * an S3 path not encoded as above, an authz buffer too small) and for out of
 * memory or an OpenSSL failure.
 */
int			sigv4_sign(const sigv4_request *req, const sigv4_creds *creds, const char *amz_date,
					   char *authz, size_t authzlen, sigv4_debug *dbg, pgark_err *err);
void		sigv4_debug_free(sigv4_debug *dbg);

/* Lower-case hex SHA-256 of a buffer into out[65]. */
void		sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
