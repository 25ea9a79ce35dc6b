/*
 * s3xml.h — the S3 response documents pgark reads, parsed with expat.
 *
 * Every parser takes a whole response body (S3 bounds them: a listing page is
 * at most 1000 keys) and is strict: a document whose root element is not the
 * one expected is an error (kind PGARK_ERR_TRANSIENT for an <Error> document
 * whose code is retryable, else PGARK_ERR_IO), never silently "empty".
 * Parsers must survive any input (they are fuzzed: t/fuzz/fuzz_s3xml.c): no
 * crash, no unbounded allocation, text fields longer than their buffers are an
 * error.
 *
 * Common to all: blanks before the document are skipped (S3 sends white space
 * to keep a slow CompleteMultipartUpload alive); element names are matched on
 * their local part (the S3 namespace, or any prefix, is ignored); unknown
 * elements are ignored wherever they are; a DOCTYPE or entity declaration is
 * refused (no entity expansion, no external entities); elements nested more
 * than S3XML_MAX_DEPTH deep are refused.  Error messages name the operation
 * and quote at most a short excerpt of the response, printable ASCII only.
 */
#ifndef PGARK_S3XML_H
#define PGARK_S3XML_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define S3XML_KEY_MAX	1024	/* bytes in an S3 key (UTF-8) */
#define S3XML_MAX_DEPTH 16		/* elements open at once */

typedef struct s3_error
{
	char		code[128];		/* "NoSuchKey", "SlowDown", ... */
	char		message[512];
	char		request_id[128];
} s3_error;

/*
 * Is body an <Error> document? Returns 1 and fills out if so (fields missing
 * in the document are ""), 0 if it is well-formed XML with another root or
 * empty, -1 if it is not well-formed XML, or is refused as above (err set).
 * The fields are the response's text as it is (UTF-8, any character): longer
 * ones are cut and end in "...". Sanitise them before printing.
 */
int			s3xml_parse_error(const char *body, size_t len, s3_error *out, pgark_err *err);

/* One <Contents> entry of a ListObjectsV2 page. */
typedef struct s3_list_entry
{
	const char *key;			/* valid during the callback only */
	uint64_t	size;
	int64_t		mtime;			/* <LastModified> as seconds since the epoch (UTC) */
} s3_list_entry;

typedef int (*s3xml_list_fn) (void *arg, const s3_list_entry *e, pgark_err *err);

/*
 * A <ListBucketResult> page: fn for each <Contents> in document order (a
 * non-zero return stops the parse and is returned, err as fn left it; fn may
 * be NULL); *truncated from <IsTruncated>; next_token from
 * <NextContinuationToken> ("" if none; an error if truncated without one, or
 * if it does not fit in tokcap). Returns 0 or -1 (err set).
 *
 * Each <Contents> must have a non-empty <Key> of at most S3XML_KEY_MAX bytes,
 * a <Size> (decimal, uint64) and a <LastModified> (ISO 8601:
 * 2026-11-27T05:06:24.000Z; a +hh:mm offset is also taken); <IsTruncated>
 * (true|false) is required. An <EncodingType> with a value is refused: keys
 * would be URL-encoded, and pgark never asks for that. Entries already passed
 * to fn before an error are not taken back: a caller that collects them
 * discards the page when -1 is returned.
 */
int			s3xml_parse_list(const char *body, size_t len, s3xml_list_fn fn, void *arg,
							 int *truncated, char *next_token, size_t tokcap, pgark_err *err);

/*
 * <InitiateMultipartUploadResult> (CreateMultipartUpload): the <UploadId>,
 * which must be there, non-empty and fit in cap. upload_id is "" on failure.
 */
int			s3xml_parse_initiate(const char *body, size_t len, char *upload_id, size_t cap,
								 pgark_err *err);

/*
 * The body of a CompleteMultipartUpload response (HTTP 200 can carry an
 * <Error>): 0 for <CompleteMultipartUploadResult>; -1 for <Error> (err names
 * the code and message; kind TRANSIENT when s3xml_code_retryable(code), else
 * IO) or anything else: an empty body, another root, not XML (kind IO).
 */
int			s3xml_parse_complete(const char *body, size_t len, pgark_err *err);

/*
 * A <DeleteResult> (DeleteObjects, quiet mode lists only failures): 0 if it
 * holds no <Error> entry, or if the body is empty (AWS documents an empty
 * response for a quiet request where every key was deleted); -1 naming the
 * number of failures and the first failed key, its code and message, kind
 * TRANSIENT if every failure's code is retryable, else IO. <Deleted> entries
 * are ignored.
 */
int			s3xml_parse_delete(const char *body, size_t len, pgark_err *err);

/*
 * Is this S3 error code one a client should retry after a pause?
 * InternalError, ServiceUnavailable, SlowDown, SlowDownRead, SlowDownWrite
 * (MinIO), RequestTimeout, OperationAborted, ConditionalRequestConflict,
 * Throttling, ThrottlingException, RequestThrottled. Not RequestTimeTooSkewed
 * (waiting does not fix a clock), nor credential, permission or request
 * errors. The reasons are in s3xml.c.
 */
int			s3xml_code_retryable(const char *code);

#endif
