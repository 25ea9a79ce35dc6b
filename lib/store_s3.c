/*
 * store_s3.c — the store interface over S3-compatible object storage (libcurl).
 *
 * Requests are signed with our own SigV4 (sigv4.c): the path and the query
 * string sent are exactly the ones signed. Bodies are hashed (signed
 * x-amz-content-sha256, which S3 checks against what it receives; single PUTs
 * also carry x-amz-checksum-sha256, which S3 stores with the object).
 *
 * One CURL handle per store: its connection is reused from request to request
 * (curl_easy_reset keeps the connection cache). A store is used by one thread
 * at a time.
 *
 * Writers buffer in memory up to [repo] multipart_threshold; a body that stays
 * below it goes up in one PUT at commit, a larger one as a multipart upload of
 * part_size parts begun as soon as the threshold is passed. Memory is bounded
 * by multipart_threshold + part_size, never by the object's size. No-overwrite
 * commits send If-None-Match: * (PutObject and CompleteMultipartUpload): of two
 * racing writers exactly one wins; the other gets PGARK_ERR_EXISTS.
 *
 * Readers fetch ranges of at most READ_BLOCK bytes (one request each, the
 * first one learning the object's size and ETag, the next ones sent with
 * If-Match so that a replaced object is noticed rather than spliced).
 *
 * Retries: 5xx, 429, SlowDown/RequestTimeout-style error codes, connection
 * failures, resets and timeouts (no byte for [repo] timeout seconds) are
 * retried up to [repo] retries times with exponential backoff and full jitter.
 * Every request we retry is idempotent: GET/HEAD/DELETE; a PUT of the same
 * bytes (with If-None-Match, a retry after a lost success answers 412 and the
 * caller compares contents); UploadPart (same part number, same bytes);
 * CompleteMultipartUpload (NoSuchUpload on a retry means our first attempt
 * completed it: checked with HEAD; on a first attempt too, since libcurl
 * resends a request by itself when a reused connection closes before any
 * answer: then a no-overwrite commit whose object is there with our size
 * gets PGARK_ERR_EXISTS, for the caller to compare, as after a 412).
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* libcurl is loaded when the first S3 store opens, not linked (curlapi.h) */
#include "curlapi.h"

#include "s3xml.h"
#include "sigv4.h"
#include "util.h"

#define READ_BLOCK			(8u * 1024 * 1024)
#define MAX_XML_BODY		(8u * 1024 * 1024)	/* a listing page of 1000 keys is ~300 KB */
#define MAX_PARTS			10000
#define DELETE_BATCH		1000
#define BACKOFF_BASE_MS		200
#define BACKOFF_CAP_MS		20000

/* One connection: a curl handle (its connection cache) and its jitter state. */
typedef struct s3_conn
{
	CURL	   *curl;
	unsigned int rand_state;
} s3_conn;

#define MAX_TRANSFERS 16

struct s3_writer;

/*
 * Background uploads (store_put_commit_async): up to `transfers` threads, each
 * with its own connection, take committed writers from a queue. At most
 * `transfers` writers are queued or uploading at once; a caller committing
 * one more waits, so memory stays bounded by configuration.
 */
typedef struct s3_pool
{
	pthread_mutex_t mu;
	pthread_cond_t cv_job;
	pthread_cond_t cv_done;
	struct s3_writer *head;
	struct s3_writer *tail;
	int			inflight;		/* queued + uploading */
	int			stop;			/* free: no new jobs; queued ones are aborted */
	int			failed;
	pgark_err	first_err;
	int			nthreads;
	pthread_t	th[MAX_TRANSFERS];
	s3_conn		conns[MAX_TRANSFERS];
} s3_pool;

typedef struct pool_arg
{
	struct s3_store *s;
	int			idx;
} pool_arg;

typedef struct s3_store
{
	store		base;
	s3_conn		main;			/* the caller's thread */
	int			transfers;
	int			pool_started;
	s3_pool		pool;
	pool_arg	pool_args[MAX_TRANSFERS];
	char		scheme[8];		/* "https" or "http" */
	char		hostport[600];	/* endpoint host[:port] */
	char		host[700];		/* Host header (bucket. prepended for host style) */
	char		url_base[720];	/* scheme://host */
	char		path_base[80];	/* "/bucket" (path style) or "" */
	char		bucket[64];
	char		region[64];
	char		prefix[512];	/* without leading/trailing '/'; "" for none */
	char		access_key[256];
	char		secret_key[256];
	char		session_token[4096];
	char		ca_file[4096];
	int			verify_tls;
	char		storage_class[64];
	char		sse[16];
	char		sse_kms_key_id[256];
	int			retries;
	long		connect_timeout;
	long		timeout;
	size_t		multipart_threshold;
	size_t		part_size;
} s3_store;

/* ---- one HTTP exchange ------------------------------------------------- */

#define MAX_HDRS 16
#define MAX_QUERY 8

typedef struct s3_req
{
	s3_conn    *conn;			/* NULL: the store's main connection */
	const char *method;
	const char *key;			/* full object key (prefix applied); NULL = the bucket */
	sigv4_kv	query[MAX_QUERY];
	size_t		nquery;
	sigv4_kv	hdrs[MAX_HDRS];	/* besides host, x-amz-date, x-amz-content-sha256, token */
	size_t		nhdrs;
	const uint8_t *body;
	size_t		bodylen;
	int			head;			/* HEAD: no body expected */
	/* where a 2xx body goes: buf of cap bytes (a larger body is an error) */
	uint8_t    *sink;
	size_t		sinkcap;
	const char *what;			/* "GET wal/…" for messages */
	int			attempts;		/* set by s3_request: how many were sent */
} s3_req;

typedef struct s3_resp
{
	long		status;
	uint8_t    *body;			/* the sink for 2xx, else an error body (malloc'd) */
	size_t		bodylen;
	int			body_owned;
	int			overflow;
	uint64_t	content_length;
	int			have_content_length;
	uint64_t	range_total;	/* from Content-Range: bytes a-b/TOTAL */
	int			have_range_total;
	char		etag[130];
	int64_t		last_modified;
	char		request_id[128];
	char		errbuf[CURL_ERROR_SIZE];
	s3_req	   *req;
	/* progress: the last time a byte moved either way */
	curl_off_t	last_up;
	curl_off_t	last_down;
	struct timespec last_move;
	long		timeout;
	int			stalled;
} s3_resp;

static void
resp_free(s3_resp *rs)
{
	if (rs->body_owned)
		free(rs->body);
	rs->body = NULL;
	rs->body_owned = 0;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	s3_resp    *rs = arg;
	size_t		n = size * nmemb;

	/* 2xx bodies go to the caller's sink; others (errors) to a bounded buffer */
	if (rs->status >= 200 && rs->status < 300 && rs->req->sink != NULL)
	{
		if (rs->bodylen + n > rs->req->sinkcap)
		{
			rs->overflow = 1;
			return 0;
		}
		memcpy(rs->req->sink + rs->bodylen, data, n);
		rs->bodylen += n;
		return n;
	}
	if (rs->bodylen + n > MAX_XML_BODY)
	{
		rs->overflow = 1;
		return 0;
	}
	{
		uint8_t    *nb = realloc(rs->body_owned ? rs->body : NULL, rs->bodylen + n + 1);

		if (nb == NULL)
			return 0;
		rs->body = nb;
		rs->body_owned = 1;
		memcpy(nb + rs->bodylen, data, n);
		rs->bodylen += n;
		nb[rs->bodylen] = '\0';
	}
	return n;
}

static void
trim_value(const char *v, size_t len, char *out, size_t cap)
{
	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(out, v, len);
	out[len] = '\0';
}

static size_t
header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	s3_resp    *rs = arg;
	size_t		n = size * nmemb;
	const char *colon = memchr(data, ':', n);
	char		val[512];
	size_t		nlen;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
	{
		/* a new response (after a 100 Continue or a redirect): start over */
		const char *sp = memchr(data, ' ', n);

		rs->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		rs->have_content_length = 0;
		rs->have_range_total = 0;
		rs->etag[0] = '\0';
		return n;
	}
	if (colon == NULL)
		return n;
	nlen = (size_t) (colon - data);
	if (nlen == 4 && strncasecmp(data, "ETag", 4) == 0)
	{
		trim_value(colon + 1, n - nlen - 1, rs->etag, sizeof(rs->etag));
		return n;
	}
	if (nlen == 16 && strncasecmp(data, "x-amz-request-id", 16) == 0)
	{
		trim_value(colon + 1, n - nlen - 1, rs->request_id, sizeof(rs->request_id));
		return n;
	}
	trim_value(colon + 1, n - nlen - 1, val, sizeof(val));
	if (nlen == 14 && strncasecmp(data, "Content-Length", 14) == 0)
	{
		char	   *end;
		unsigned long long v = strtoull(val, &end, 10);

		if (end != val && *end == '\0')
		{
			rs->content_length = v;
			rs->have_content_length = 1;
		}
	}
	else if (nlen == 13 && strncasecmp(data, "Content-Range", 13) == 0)
	{
		const char *slash = strrchr(val, '/');

		if (slash && slash[1] != '*')
		{
			char	   *end;
			unsigned long long v = strtoull(slash + 1, &end, 10);

			if (end != slash + 1 && *end == '\0')
			{
				rs->range_total = v;
				rs->have_range_total = 1;
			}
		}
	}
	else if (nlen == 13 && strncasecmp(data, "Last-Modified", 13) == 0)
		rs->last_modified = (int64_t) curl_getdate(val, NULL);
	return n;
}

static double
since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

/* [repo] timeout: abandon a request when no byte has moved for that long
 * (curl's own low-speed check averages over a window, and so waits longer). */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	s3_resp    *rs = arg;

	(void) dltotal;
	(void) ultotal;
	if (dlnow != rs->last_down || ulnow != rs->last_up)
	{
		rs->last_down = dlnow;
		rs->last_up = ulnow;
		clock_gettime(CLOCK_MONOTONIC, &rs->last_move);
		return 0;
	}
	if (since(&rs->last_move) >= (double) rs->timeout)
	{
		rs->stalled = 1;
		return 1;
	}
	return 0;
}

typedef struct body_src
{
	const uint8_t *p;
	size_t		len;
	size_t		off;
} body_src;

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	body_src   *b = arg;
	size_t		n = size * nitems;

	if (n > b->len - b->off)
		n = b->len - b->off;
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	return n;
}

static int
seek_cb(void *arg, curl_off_t offset, int origin)
{
	body_src   *b = arg;

	if (origin != SEEK_SET || offset < 0 || (size_t) offset > b->len)
		return CURL_SEEKFUNC_FAIL;
	b->off = (size_t) offset;
	return CURL_SEEKFUNC_OK;
}

/* The object key for a store name. */
static void
full_key(const s3_store *s, const char *name, char *out, size_t cap)
{
	if (s->prefix[0])
		snprintf(out, cap, "%s/%s", s->prefix, name);
	else
		snprintf(out, cap, "%s", name);
}

static void
amz_now(char date[17])
{
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(date, 17, "%Y%m%dT%H%M%SZ", &tm);
}

typedef enum
{
	ATTEMPT_OK,					/* a response arrived (any status) */
	ATTEMPT_RETRY,				/* connection-level failure worth retrying */
	ATTEMPT_FAIL				/* failure not worth retrying */
} attempt_result;

/* One attempt: build, sign, perform. Fills rs; err on a failure. */
static attempt_result
s3_attempt(s3_store *s, s3_req *rq, s3_resp *rs, pgark_err *err)
{
	char		date[17];
	char		payload_hash[65];
	char	   *path = NULL;
	char	   *query = NULL;
	char	   *url = NULL;
	char		authz[1024];
	sigv4_kv	hdrs[MAX_HDRS + 5];
	size_t		nh = 0;
	struct curl_slist *list = NULL;
	body_src	src = {rq->body, rq->bodylen, 0};
	CURLcode	cc;
	attempt_result ar = ATTEMPT_FAIL;
	sigv4_request sr;
	sigv4_creds cr;

	CURL	   *curl = rq->conn ? rq->conn->curl : s->main.curl;

	memset(rs, 0, sizeof(*rs));
	rs->req = rq;
	amz_now(date);
	if (rq->body)
		sigv4_sha256_hex(rq->body, rq->bodylen, payload_hash);
	else
		snprintf(payload_hash, sizeof(payload_hash), "%s", SIGV4_EMPTY_SHA256);

	{
		char		key[1100];
		char	   *enc = NULL;

		if (rq->key)
		{
			full_key(s, rq->key, key, sizeof(key));
			if ((enc = sigv4_uri_encode(key, 1)) == NULL)
				goto oom;
		}
		if (asprintf(&path, "%s/%s", s->path_base, enc ? enc : "") < 0)
		{
			free(enc);
			path = NULL;
			goto oom;
		}
		free(enc);
		/* "/bucket/" → "/bucket" for bucket-level requests in path style */
		if (rq->key == NULL && s->path_base[0] && path[strlen(path) - 1] == '/')
			path[strlen(path) - 1] = '\0';
	}
	if ((query = sigv4_canonical_query(rq->query, rq->nquery)) == NULL)
		goto oom;
	if (asprintf(&url, "%s%s%s%s", s->url_base, path, query[0] ? "?" : "", query) < 0)
	{
		url = NULL;
		goto oom;
	}

	hdrs[nh++] = (sigv4_kv) {"host", s->host};
	hdrs[nh++] = (sigv4_kv) {"x-amz-date", date};
	hdrs[nh++] = (sigv4_kv) {"x-amz-content-sha256", payload_hash};
	if (s->session_token[0])
		hdrs[nh++] = (sigv4_kv) {"x-amz-security-token", s->session_token};
	for (size_t i = 0; i < rq->nhdrs; i++)
		hdrs[nh++] = rq->hdrs[i];

	sr = (sigv4_request) {
		.method = rq->method, .path = path, .query = rq->query, .nquery = rq->nquery,
		.headers = hdrs, .nheaders = nh, .payload_hash = payload_hash, .normalize_path = 0
	};
	cr = (sigv4_creds) {s->access_key, s->secret_key, s->region, "s3"};
	if (sigv4_sign(&sr, &cr, date, authz, sizeof(authz), NULL, err) != 0)
		goto done;

	for (size_t i = 0; i < nh; i++)
	{
		char		line[4200];
		struct curl_slist *nl;

		if (strcmp(hdrs[i].name, "host") == 0)
			continue;			/* curl sends Host from the URL: the same value */
		snprintf(line, sizeof(line), "%s: %s", hdrs[i].name, hdrs[i].value);
		if ((nl = curl_slist_append(list, line)) == NULL)
			goto oom;
		list = nl;
	}
	{
		char		line[1100];
		struct curl_slist *nl;

		snprintf(line, sizeof(line), "Authorization: %s", authz);
		if ((nl = curl_slist_append(list, line)) == NULL)
			goto oom;
		list = nl;
		/* no 100-continue round trip; and nothing curl adds on its own */
		if ((nl = curl_slist_append(list, "Expect:")) == NULL)
			goto oom;
		list = nl;
		if ((nl = curl_slist_append(list, "Accept:")) == NULL)
			goto oom;
		list = nl;
		if (rq->body && strcmp(rq->method, "POST") == 0)
		{
			if ((nl = curl_slist_append(list, "Content-Type: application/xml")) == NULL)
				goto oom;
			list = nl;
		}
	}
	explicit_bzero(authz, sizeof(authz));

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, s->connect_timeout);
	/* no progress for `timeout` seconds: abandon (and retry) */
	rs->timeout = s->timeout;
	clock_gettime(CLOCK_MONOTONIC, &rs->last_move);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, rs);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, rs->errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, rs);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, rs);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, s->verify_tls ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, s->verify_tls ? 2L : 0L);
	if (s->ca_file[0])
		curl_easy_setopt(curl, CURLOPT_CAINFO, s->ca_file);
	if (rq->head)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(rq->method, "PUT") == 0)
	{
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(curl, CURLOPT_READDATA, &src);
		curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(curl, CURLOPT_SEEKDATA, &src);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) rq->bodylen);
	}
	else if (strcmp(rq->method, "POST") == 0)
	{
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, rq->body ? (const char *) rq->body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) rq->bodylen);
	}
	else if (strcmp(rq->method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, rq->method);

	cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &rs->status);
	if (cc == CURLE_WRITE_ERROR && rs->overflow)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "%s in %s: the response is larger than expected",
				rq->what, s->base.where);
		goto done;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK && rs->stalled)
	{
		err_set(err, PGARK_ERR_TRANSIENT, 0, "%s in %s: no progress for %ld s ([repo] timeout)",
				rq->what, s->base.where, s->timeout);
		ar = ATTEMPT_RETRY;
		goto done;
	}
	if (cc != CURLE_OK)
	{
		const char *detail = rs->errbuf[0] ? rs->errbuf : curl_easy_strerror(cc);

		switch (cc)
		{
			case CURLE_UNSUPPORTED_PROTOCOL:
			case CURLE_URL_MALFORMAT:
			case CURLE_PEER_FAILED_VERIFICATION:
			case CURLE_SSL_CACERT_BADFILE:
			case CURLE_SSL_CERTPROBLEM:
			case CURLE_OUT_OF_MEMORY:
			case CURLE_WRITE_ERROR:
			case CURLE_ABORTED_BY_CALLBACK:
				err_set(err, cc == CURLE_OUT_OF_MEMORY ? PGARK_ERR_INTERNAL : PGARK_ERR_IO, 0,
						"%s in %s: %s", rq->what, s->base.where, detail);
				break;
			default:
				/* connect/resolve failures, resets, timeouts, short bodies */
				err_set(err, PGARK_ERR_TRANSIENT, 0, "%s in %s: %s", rq->what, s->base.where, detail);
				ar = ATTEMPT_RETRY;
				break;
		}
		goto done;
	}
	/* a body shorter than announced would have been CURLE_PARTIAL_FILE */
	ar = ATTEMPT_OK;
	goto done;
oom:
	err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
done:
	explicit_bzero(authz, sizeof(authz));
	curl_slist_free_all(list);
	free(path);
	free(query);
	free(url);
	return ar;
}

/* Server text into a message: printable ASCII only. */
static void
sanitize(char *p)
{
	for (; *p; p++)
		if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
			*p = '?';
}

/* Describe a non-2xx response in err (kind chosen by the caller). */
static void
describe_status(s3_store *s, s3_req *rq, s3_resp *rs, pgark_errkind kind, s3_error *e, pgark_err *err)
{
	sanitize(e->code);
	sanitize(e->message);
	if (e->code[0])
	{
		char		hint[800] = "";

		if (kind == PGARK_ERR_IO && strcmp(e->code, "AccessDenied") == 0)
			snprintf(hint, sizeof(hint), ": check the credentials and the bucket policy (README: IAM permissions)");
		else if (strcmp(e->code, "NoSuchBucket") == 0)
			snprintf(hint, sizeof(hint), ": there is no bucket \"%s\" at %s (check [repo] bucket and endpoint; "
					 "pgark never creates a bucket)", s->bucket, s->hostport);
		err_set(err, kind, 0, "%s in %s: HTTP %ld %s%s%s%s%s", rq->what, s->base.where, rs->status, e->code,
				e->message[0] ? " (" : "", e->message, e->message[0] ? ")" : "", hint);
	}
	else
		err_set(err, kind, 0, "%s in %s: HTTP %ld", rq->what, s->base.where, rs->status);
}

static unsigned int
backoff_ms(s3_conn *c, int attempt)
{
	unsigned int cap = BACKOFF_BASE_MS;

	for (int i = 0; i < attempt && cap < BACKOFF_CAP_MS; i++)
		cap *= 2;
	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	/* full jitter */
	return (unsigned int) rand_r(&c->rand_state) % (cap + 1);
}

/*
 * Perform with retries. Returns 0 with rs filled when a response with a
 * status in [200, 300) or one of ok_status arrived; -1 otherwise (err set:
 * NOTFOUND for 404 NoSuchKey/HEAD 404, EXISTS for 412, TRANSIENT when retries
 * ran out on something retryable, IO for the rest). For 2xx the body is in
 * the sink (or rs->body for requests without a sink).
 */
static int
s3_request(s3_store *s, s3_req *rq, s3_resp *rs, pgark_err *err)
{
	for (int attempt = 0;; attempt++)
	{
		attempt_result ar;
		int			retry = 0;

		rq->attempts = attempt + 1;
		ar = s3_attempt(s, rq, rs, err);

		if (ar == ATTEMPT_OK)
		{
			s3_error	e;
			pgark_err	xerr;

			memset(&e, 0, sizeof(e));
			err_clear(&xerr);
			if (rs->body_owned && rs->bodylen > 0)
				(void) s3xml_parse_error((const char *) rs->body, rs->bodylen, &e, &xerr);
			if (rs->status >= 200 && rs->status < 300)
			{
				/*
				 * An upload is stored only when S3 says so: a 2xx with an
				 * ETag and no <Error> document (a proxy or a broken store
				 * can answer 200 for a PUT that went nowhere).
				 */
				if (strcmp(rq->method, "PUT") != 0 || (e.code[0] == '\0' && rs->etag[0] != '\0'))
					return 0;
				if (e.code[0])
					describe_status(s, rq, rs, PGARK_ERR_TRANSIENT, &e, err);
				else
					err_set(err, PGARK_ERR_TRANSIENT, 0, "%s in %s: HTTP %ld without an ETag: not stored",
							rq->what, s->base.where, rs->status);
				resp_free(rs);
				goto retry_or_fail;
			}
			if (rs->status == 404 && (rq->head || strcmp(e.code, "NoSuchKey") == 0))
			{
				err_set(err, PGARK_ERR_NOTFOUND, ENOENT, "%s does not exist in %s",
						rq->key ? rq->key : "(bucket)", s->base.where);
				resp_free(rs);
				return -1;
			}
			if (rs->status == 412)
			{
				err_set(err, PGARK_ERR_EXISTS, EEXIST, "%s in %s: already exists (precondition failed)",
						rq->what, s->base.where);
				resp_free(rs);
				return -1;
			}
			if (rs->status >= 500 || rs->status == 429 || s3xml_code_retryable(e.code))
			{
				describe_status(s, rq, rs, PGARK_ERR_TRANSIENT, &e, err);
				retry = 1;
			}
			else
				describe_status(s, rq, rs, PGARK_ERR_IO, &e, err);
			resp_free(rs);
		}
		else if (ar == ATTEMPT_RETRY)
			retry = 1;
		resp_free(rs);
		if (!retry)
			return -1;
retry_or_fail:
		if (attempt >= s->retries)
		{
			err_prefix(err, "gave up after %d attempts", attempt + 1);
			return -1;
		}
		sleep_ms(backoff_ms(rq->conn ? rq->conn : &s->main, attempt));
	}
}

/* ---- writer --------------------------------------------------------------- */

static int	s3_head_conn(s3_store *s, s3_conn *conn, const char *name, store_stat *out, pgark_err *err);

typedef struct s3_writer
{
	store	   *st;				/* first, as store.c expects */
	char		name[600];
	uint8_t    *buf;
	size_t		len;
	size_t		cap;
	uint64_t	total;
	char		upload_id[1100];	/* "" until a multipart upload began */
	char	  **etags;
	int			nparts;
	s3_conn    *conn;			/* NULL: main; a pool thread's while it uploads */
	int			flags;			/* of an async commit */
	struct s3_writer *next;		/* in the pool's queue */
} s3_writer;

static void
add_store_headers(s3_store *s, s3_req *rq)
{
	if (s->storage_class[0])
		rq->hdrs[rq->nhdrs++] = (sigv4_kv) {"x-amz-storage-class", s->storage_class};
	if (s->sse[0])
		rq->hdrs[rq->nhdrs++] = (sigv4_kv) {"x-amz-server-side-encryption", s->sse};
	if (s->sse_kms_key_id[0])
		rq->hdrs[rq->nhdrs++] = (sigv4_kv) {"x-amz-server-side-encryption-aws-kms-key-id", s->sse_kms_key_id};
}

static store_writer *
s3_put_begin(store *st, const char *name, pgark_err *err)
{
	s3_store   *s = (s3_store *) st;
	s3_writer  *w = calloc(1, sizeof(*w));

	if (w == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	w->st = st;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->cap = 1024 * 1024;
	if (w->cap > s->multipart_threshold)
		w->cap = s->multipart_threshold;
	if ((w->buf = malloc(w->cap)) == NULL)
	{
		free(w);
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	return (store_writer *) w;
}

static int
mpu_initiate(s3_store *s, s3_writer *w, pgark_err *err)
{
	s3_req		rq;
	s3_resp		rs;
	char		what[700];

	memset(&rq, 0, sizeof(rq));
	rq.conn = w->conn;
	snprintf(what, sizeof(what), "CreateMultipartUpload %s", w->name);
	rq.method = "POST";
	rq.key = w->name;
	rq.query[rq.nquery++] = (sigv4_kv) {"uploads", ""};
	add_store_headers(s, &rq);
	rq.what = what;
	if (s3_request(s, &rq, &rs, err) != 0)
		return -1;
	if (s3xml_parse_initiate((const char *) rs.body, rs.bodylen, w->upload_id, sizeof(w->upload_id), err) != 0)
	{
		resp_free(&rs);
		return err_prefix(err, "%s in %s", what, s->base.where);
	}
	resp_free(&rs);
	if ((w->etags = calloc(MAX_PARTS, sizeof(char *))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	return 0;
}

static int
mpu_upload_part(s3_store *s, s3_writer *w, const uint8_t *data, size_t len, pgark_err *err)
{
	s3_req		rq;
	s3_resp		rs;
	char		what[700];
	char		partno[16];

	if (w->nparts >= MAX_PARTS)
		return err_set(err, PGARK_ERR_IO, 0, "%s in %s: more than %d parts (raise [repo] part_size)",
					   w->name, s->base.where, MAX_PARTS);
	snprintf(partno, sizeof(partno), "%d", w->nparts + 1);
	snprintf(what, sizeof(what), "UploadPart %s part %s", w->name, partno);
	memset(&rq, 0, sizeof(rq));
	rq.conn = w->conn;
	rq.method = "PUT";
	rq.key = w->name;
	rq.query[rq.nquery++] = (sigv4_kv) {"partNumber", partno};
	rq.query[rq.nquery++] = (sigv4_kv) {"uploadId", w->upload_id};
	rq.body = data;
	rq.bodylen = len;
	rq.what = what;
	if (s3_request(s, &rq, &rs, err) != 0)
		return -1;
	resp_free(&rs);
	if (rs.etag[0] == '\0')
		return err_set(err, PGARK_ERR_IO, 0, "%s in %s: the response carries no ETag", what, s->base.where);
	if ((w->etags[w->nparts] = strdup(rs.etag)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	w->nparts++;
	return 0;
}

static void
mpu_abort(s3_store *s, s3_writer *w)
{
	s3_req		rq;
	s3_resp		rs;
	pgark_err	ignored;
	char		what[700];

	if (w->upload_id[0] == '\0')
		return;
	snprintf(what, sizeof(what), "AbortMultipartUpload %s", w->name);
	memset(&rq, 0, sizeof(rq));
	rq.conn = w->conn;
	rq.method = "DELETE";
	rq.key = w->name;
	rq.query[rq.nquery++] = (sigv4_kv) {"uploadId", w->upload_id};
	rq.what = what;
	err_clear(&ignored);
	if (s3_request(s, &rq, &rs, &ignored) == 0)
		resp_free(&rs);
	w->upload_id[0] = '\0';
}

static int
mpu_complete(s3_store *s, s3_writer *w, int flags, pgark_err *err)
{
	s3_req		rq;
	s3_resp		rs;
	char		what[700];
	char	   *xml = NULL;
	size_t		xlen = 0;
	FILE	   *f = open_memstream(&xml, &xlen);
	int			rc = -1;

	if (f == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	fputs("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", f);
	for (int i = 0; i < w->nparts; i++)
		fprintf(f, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, w->etags[i]);
	fputs("</CompleteMultipartUpload>", f);
	if (fclose(f) != 0)
	{
		free(xml);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	}
	snprintf(what, sizeof(what), "CompleteMultipartUpload %s", w->name);
	for (int attempt = 0;; attempt++)
	{
		memset(&rq, 0, sizeof(rq));
		rq.conn = w->conn;
		rq.method = "POST";
		rq.key = w->name;
		rq.query[rq.nquery++] = (sigv4_kv) {"uploadId", w->upload_id};
		if (flags & STORE_NO_OVERWRITE)
			rq.hdrs[rq.nhdrs++] = (sigv4_kv) {"if-none-match", "*"};
		rq.body = (const uint8_t *) xml;
		rq.bodylen = xlen;
		rq.what = what;
		if (s3_request(s, &rq, &rs, err) != 0)
		{
			/*
			 * NoSuchUpload with the object there: an attempt of ours (a
			 * retry here, one inside s3_request after a dropped connection,
			 * or one libcurl itself sent again, unseen, when a reused
			 * connection closed before any answer) may have completed the
			 * upload and its answer been lost. Or another writer completed
			 * the same name (a 409 ConditionalRequestConflict, retried,
			 * ends so), and the upload is gone. A size proves nothing
			 * then: a no-overwrite commit is told EXISTS and its caller
			 * compares the content (wal-push, dump-push do), as after a
			 * 412, unless the name is the caller's alone (STORE_OWN_NAME).
			 * An overwriting commit takes the object for its own after a
			 * retry only.
			 */
			if (strstr(err->msg, "NoSuchUpload") != NULL)
			{
				store_stat	hs;
				pgark_err	herr;
				int			ours;

				err_clear(&herr);
				if (s3_head_conn(s, w->conn, w->name, &hs, &herr) == 0 && hs.size == w->total)
				{
					w->upload_id[0] = '\0';
					if (flags & STORE_NO_OVERWRITE)
						ours = (flags & STORE_OWN_NAME) != 0;
					else
						ours = attempt > 0 || rq.attempts > 1;
					if (ours)
					{
						err_clear(err);
						rc = 0;
					}
					else if (flags & STORE_NO_OVERWRITE)
						err_set(err, PGARK_ERR_EXISTS, EEXIST, "%s in %s: NoSuchUpload, and the object is "
								"there (a completion whose answer was lost, or another writer's)", what,
								s->base.where);
				}
			}
			break;
		}
		/* a 200 can carry an <Error>: the upload is then not complete */
		if (s3xml_parse_complete((const char *) rs.body, rs.bodylen, err) == 0)
		{
			resp_free(&rs);
			w->upload_id[0] = '\0';
			rc = 0;
			break;
		}
		resp_free(&rs);
		err_prefix(err, "%s in %s", what, s->base.where);
		if (err->kind != PGARK_ERR_TRANSIENT || attempt >= s->retries)
			break;
		sleep_ms(backoff_ms(w->conn ? w->conn : &s->main, attempt));
	}
	free(xml);
	return rc;
}

static int
s3_put_write(store_writer *sw, const void *data, size_t len, pgark_err *err)
{
	s3_writer  *w = (s3_writer *) sw;
	s3_store   *s = (s3_store *) w->st;
	const uint8_t *p = data;

	while (len > 0)
	{
		size_t		limit = w->upload_id[0] ? s->part_size : s->multipart_threshold;
		size_t		n;

		if (w->len == limit)
		{
			/* full: begin (or go on with) the multipart upload */
			if (w->upload_id[0] == '\0' && mpu_initiate(s, w, err) != 0)
				return -1;
			while (w->len >= s->part_size)
			{
				if (mpu_upload_part(s, w, w->buf, s->part_size, err) != 0)
					return -1;
				memmove(w->buf, w->buf + s->part_size, w->len - s->part_size);
				w->len -= s->part_size;
			}
			continue;
		}
		n = limit - w->len;
		if (n > len)
			n = len;
		if (w->len + n > w->cap)
		{
			size_t		ncap = w->cap;
			uint8_t    *nb;

			while (ncap < w->len + n)
				ncap *= 2;
			if (ncap > limit && limit >= w->len + n)
				ncap = limit;
			if ((nb = realloc(w->buf, ncap)) == NULL)
				return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			w->buf = nb;
			w->cap = ncap;
		}
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		w->total += n;
		p += n;
		len -= n;
	}
	return 0;
}

static void
s3_writer_free(s3_writer *w)
{
	if (w->etags)
	{
		for (int i = 0; i < w->nparts; i++)
			free(w->etags[i]);
		free(w->etags);
	}
	free(w->buf);
	free(w);
}

/* Store the writer's object now, on w->conn; aborts a multipart upload on failure. */
static int
commit_now(s3_writer *w, int flags, pgark_err *err)
{
	s3_store   *s = (s3_store *) w->st;
	int			rc = -1;

	if (w->upload_id[0])
	{
		if (w->len > 0 && mpu_upload_part(s, w, w->buf, w->len, err) != 0)
			goto done;
		rc = mpu_complete(s, w, flags, err);
	}
	else
	{
		s3_req		rq;
		s3_resp		rs;
		char		what[700];
		unsigned char digest[32];
		char		b64[64];

		snprintf(what, sizeof(what), "PutObject %s", w->name);
		memset(&rq, 0, sizeof(rq));
		rq.conn = w->conn;
		rq.method = "PUT";
		rq.key = w->name;
		rq.body = w->buf;
		rq.bodylen = w->len;
		rq.what = what;
		if (EVP_Digest(w->buf, w->len, digest, NULL, EVP_sha256(), NULL) != 1)
		{
			err_set(err, PGARK_ERR_INTERNAL, 0, "SHA-256 failed");
			goto done;
		}
		EVP_EncodeBlock((unsigned char *) b64, digest, 32);
		rq.hdrs[rq.nhdrs++] = (sigv4_kv) {"x-amz-checksum-sha256", b64};
		if (flags & STORE_NO_OVERWRITE)
			rq.hdrs[rq.nhdrs++] = (sigv4_kv) {"if-none-match", "*"};
		add_store_headers(s, &rq);
		if (s3_request(s, &rq, &rs, err) == 0)
		{
			resp_free(&rs);
			rc = 0;
		}
	}
done:
	if (rc != 0)
		mpu_abort(s, w);
	return rc;
}

static int
s3_put_commit(store_writer *sw, int flags, pgark_err *err)
{
	s3_writer  *w = (s3_writer *) sw;
	int			rc = commit_now(w, flags, err);

	s3_writer_free(w);
	return rc;
}

static void
s3_put_abort(store_writer *sw)
{
	s3_writer  *w = (s3_writer *) sw;

	mpu_abort((s3_store *) w->st, w);
	s3_writer_free(w);
}

/* ---- background uploads ------------------------------------------------------ */

static void *
pool_thread(void *arg)
{
	pool_arg   *pa = arg;
	s3_store   *s = pa->s;
	s3_pool    *pool = &s->pool;

	for (;;)
	{
		s3_writer  *w;
		pgark_err	e;
		int			rc = -1;

		pthread_mutex_lock(&pool->mu);
		while (pool->head == NULL && !pool->stop)
			pthread_cond_wait(&pool->cv_job, &pool->mu);
		if (pool->head == NULL)
		{
			pthread_mutex_unlock(&pool->mu);
			return NULL;
		}
		w = pool->head;
		pool->head = w->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		/* after a failure, or when the store is being freed: abort the rest */
		if (pool->stop || pool->failed)
		{
			pthread_mutex_unlock(&pool->mu);
			w->conn = &pool->conns[pa->idx];
			mpu_abort(s, w);
		}
		else
		{
			pthread_mutex_unlock(&pool->mu);
			w->conn = &pool->conns[pa->idx];
			err_clear(&e);
			rc = commit_now(w, w->flags, &e);
		}
		s3_writer_free(w);
		pthread_mutex_lock(&pool->mu);
		if (rc != 0 && !pool->failed && !pool->stop)
		{
			pool->failed = 1;
			pool->first_err = e;
		}
		pool->inflight--;
		pthread_cond_broadcast(&pool->cv_done);
		pthread_mutex_unlock(&pool->mu);
	}
}

static int
pool_start(s3_store *s, pgark_err *err)
{
	s3_pool    *pool = &s->pool;

	if (s->pool_started)
		return 0;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv_job, NULL);
	pthread_cond_init(&pool->cv_done, NULL);
	s->pool_started = 1;
	for (int i = 0; i < s->transfers; i++)
	{
		pool_arg   *pa = &s->pool_args[i];

		pa->s = s;
		pa->idx = i;
		pool->conns[i].rand_state = s->main.rand_state + (unsigned int) i + 1;
		if ((pool->conns[i].curl = curl_easy_init()) == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "libcurl could not be initialised");
		if (pthread_create(&pool->th[i], NULL, pool_thread, pa) != 0)
		{
			curl_easy_cleanup(pool->conns[i].curl);
			pool->conns[i].curl = NULL;
			return err_set(err, PGARK_ERR_INTERNAL, 0, "could not start an upload thread");
		}
		pool->nthreads++;
	}
	return 0;
}

static int
s3_put_commit_async(store_writer *sw, int flags, pgark_err *err)
{
	s3_writer  *w = (s3_writer *) sw;
	s3_store   *s = (s3_store *) w->st;
	s3_pool    *pool = &s->pool;

	if (pool_start(s, err) != 0 && pool->nthreads == 0)
	{
		/* no background thread could start: store it now */
		err_clear(err);
		return s3_put_commit(sw, flags, err);
	}
	err_clear(err);
	pthread_mutex_lock(&pool->mu);
	while (pool->inflight >= pool->nthreads && !pool->failed)
		pthread_cond_wait(&pool->cv_done, &pool->mu);
	if (pool->failed)
	{
		*err = pool->first_err;
		pthread_mutex_unlock(&pool->mu);
		s3_put_abort(sw);
		return -1;
	}
	w->flags = flags;
	w->next = NULL;
	if (pool->tail)
		pool->tail->next = w;
	else
		pool->head = w;
	pool->tail = w;
	pool->inflight++;
	pthread_cond_signal(&pool->cv_job);
	pthread_mutex_unlock(&pool->mu);
	return 0;
}

static int
s3_drain(store *st, pgark_err *err)
{
	s3_store   *s = (s3_store *) st;
	s3_pool    *pool = &s->pool;
	int			rc = 0;

	if (!s->pool_started)
		return 0;
	pthread_mutex_lock(&pool->mu);
	while (pool->inflight > 0)
		pthread_cond_wait(&pool->cv_done, &pool->mu);
	if (pool->failed)
	{
		*err = pool->first_err;
		rc = -1;
	}
	pthread_mutex_unlock(&pool->mu);
	return rc;
}

static void
pool_stop(s3_store *s)
{
	s3_pool    *pool = &s->pool;

	if (!s->pool_started)
		return;
	pthread_mutex_lock(&pool->mu);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->cv_job);
	pthread_mutex_unlock(&pool->mu);
	for (int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->th[i], NULL);
	for (int i = 0; i < MAX_TRANSFERS; i++)
		if (pool->conns[i].curl)
			curl_easy_cleanup(pool->conns[i].curl);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv_job);
	pthread_cond_destroy(&pool->cv_done);
	s->pool_started = 0;
}

/* ---- reader --------------------------------------------------------------- */

typedef struct s3_reader
{
	store	   *st;
	char		name[600];
	uint64_t	next;			/* offset of the next byte to fetch */
	uint64_t	end;			/* one past the last byte wanted; UINT64_MAX = unknown yet */
	int			bounded;		/* the caller gave a length */
	uint8_t    *block;
	size_t		blen;
	size_t		bpos;
	char		etag[130];
	int			eof;
} s3_reader;

/* Fetch the next block. */
static int
fetch_block(s3_reader *r, pgark_err *err)
{
	s3_store   *s = (s3_store *) r->st;
	s3_req		rq;
	s3_resp		rs;
	char		range[64];
	char		what[700];
	uint64_t	want = READ_BLOCK;

	if (r->end != UINT64_MAX && r->end - r->next < want)
		want = r->end - r->next;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long) r->next,
			 (unsigned long long) (r->next + want - 1));
	snprintf(what, sizeof(what), "GetObject %s (%s)", r->name, range);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.key = r->name;
	rq.hdrs[rq.nhdrs++] = (sigv4_kv) {"range", range};
	if (r->etag[0])
		rq.hdrs[rq.nhdrs++] = (sigv4_kv) {"if-match", r->etag};
	rq.sink = r->block;
	rq.sinkcap = READ_BLOCK;
	rq.what = what;
	if (s3_request(s, &rq, &rs, err) != 0)
	{
		if (err->kind == PGARK_ERR_EXISTS)	/* 412 on If-Match */
			return err_set(err, PGARK_ERR_CORRUPT, 0, "%s in %s was replaced while being read",
						   r->name, s->base.where);
		if (strstr(err->msg, "HTTP 416") != NULL)
		{
			if (r->next == 0 && !r->bounded)
			{
				/* an empty object: no byte 0 */
				err_clear(err);
				r->eof = 1;
				r->blen = r->bpos = 0;
				return 0;
			}
			/* the object ends before the bytes asked for: damage, not I/O */
			return err_set(err, PGARK_ERR_CORRUPT, 0, "%s in %s is shorter than the range asked for (%s)",
						   r->name, s->base.where, range);
		}
		return -1;
	}
	if (rs.status != 206 && !(rs.status == 200 && r->next == 0))
	{
		resp_free(&rs);
		return err_set(err, PGARK_ERR_IO, 0, "%s in %s: HTTP %ld instead of 206 Partial Content",
					   what, s->base.where, rs.status);
	}
	if (rs.status == 206 && !rs.have_range_total)
		return err_set(err, PGARK_ERR_IO, 0, "%s in %s: no object size in Content-Range", what, s->base.where);
	if (r->etag[0] == '\0')
		snprintf(r->etag, sizeof(r->etag), "%s", rs.etag);
	if (r->end == UINT64_MAX || !r->bounded)
	{
		uint64_t	total = rs.status == 206 ? rs.range_total : rs.bodylen;

		if (r->bounded && r->end > total)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "%s in %s is %llu bytes, shorter than the range asked for",
						   r->name, s->base.where, (unsigned long long) total);
		if (!r->bounded)
			r->end = total;
	}
	{
		uint64_t	expect = r->end - r->next < want ? r->end - r->next : want;

		if (rs.bodylen != expect)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "%s in %s: %zu bytes received, %llu expected",
						   what, s->base.where, rs.bodylen, (unsigned long long) expect);
	}
	r->blen = rs.bodylen;
	r->bpos = 0;
	r->next += rs.bodylen;
	return 0;
}

static store_reader *
s3_get(store *st, const char *name, uint64_t offset, uint64_t len, pgark_err *err)
{
	s3_reader  *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->block = malloc(READ_BLOCK)) == NULL)
	{
		free(r);
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	r->st = st;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->next = offset;
	r->bounded = len != 0;
	r->end = len ? offset + len : UINT64_MAX;
	/* the first block now: "not found" is the caller's to see at get time */
	if (fetch_block(r, err) != 0)
	{
		free(r->block);
		free(r);
		return NULL;
	}
	return (store_reader *) r;
}

static int
s3_read(store_reader *sr, void *buf, size_t len, size_t *got, pgark_err *err)
{
	s3_reader  *r = (s3_reader *) sr;

	*got = 0;
	if (r->bpos == r->blen)
	{
		if (r->eof || r->next >= r->end)
			return 0;
		if (fetch_block(r, err) != 0)
			return -1;
	}
	if (len > r->blen - r->bpos)
		len = r->blen - r->bpos;
	memcpy(buf, r->block + r->bpos, len);
	r->bpos += len;
	*got = len;
	return 0;
}

static void
s3_reader_close(store_reader *sr)
{
	s3_reader  *r = (s3_reader *) sr;

	free(r->block);
	free(r);
}

/* ---- head, list, remove --------------------------------------------------- */

static int
s3_head_conn(s3_store *s, s3_conn *conn, const char *name, store_stat *out, pgark_err *err)
{
	s3_req		rq;
	s3_resp		rs;
	char		what[700];

	snprintf(what, sizeof(what), "HeadObject %s", name);
	memset(&rq, 0, sizeof(rq));
	rq.conn = conn;
	rq.method = "HEAD";
	rq.head = 1;
	rq.key = name;
	rq.what = what;
	if (s3_request(s, &rq, &rs, err) != 0)
		return -1;
	resp_free(&rs);
	if (!rs.have_content_length)
		return err_set(err, PGARK_ERR_IO, 0, "%s in %s: no Content-Length", what, s->base.where);
	out->size = rs.content_length;
	out->mtime = rs.last_modified;
	return 0;
}

static int
s3_head(store *st, const char *name, store_stat *out, pgark_err *err)
{
	return s3_head_conn((s3_store *) st, NULL, name, out, err);
}

typedef struct list_ctx
{
	s3_store   *s;
	store_list_fn fn;
	void	   *arg;
	size_t		strip;			/* length of "prefix/" */
} list_ctx;

static int
list_entry(void *arg, const s3_list_entry *e, pgark_err *err)
{
	list_ctx   *lc = arg;
	store_stat	st;
	const char *name;

	if (strlen(e->key) <= lc->strip)
		return 0;
	name = e->key + lc->strip;
	if (!store_name_valid(name))
		return 0;				/* not ours (a console upload, a folder marker) */
	st.size = e->size;
	st.mtime = e->mtime;
	return lc->fn(lc->arg, name, &st, err) != 0 ? -1 : 0;
}

static int
s3_list(store *st, const char *prefix, store_list_fn fn, void *arg, pgark_err *err)
{
	s3_store   *s = (s3_store *) st;
	char		full[1100];
	char		token[2048] = "";
	list_ctx	lc = {s, fn, arg, s->prefix[0] ? strlen(s->prefix) + 1 : 0};

	full_key(s, prefix, full, sizeof(full));
	for (;;)
	{
		s3_req		rq;
		s3_resp		rs;
		int			truncated = 0;
		char		what[1200];
		int			rc;

		snprintf(what, sizeof(what), "ListObjectsV2 %s", full);
		memset(&rq, 0, sizeof(rq));
		rq.method = "GET";
		rq.key = NULL;
		rq.query[rq.nquery++] = (sigv4_kv) {"list-type", "2"};
		rq.query[rq.nquery++] = (sigv4_kv) {"prefix", full};
		if (token[0])
			rq.query[rq.nquery++] = (sigv4_kv) {"continuation-token", token};
		rq.what = what;
		if (s3_request(s, &rq, &rs, err) != 0)
			return -1;
		rc = s3xml_parse_list((const char *) rs.body, rs.bodylen, list_entry, &lc, &truncated,
							  token, sizeof(token), err);
		resp_free(&rs);
		if (rc != 0)
			return err_prefix(err, "%s in %s", what, s->base.where);
		if (!truncated)
			return 0;
	}
}

static int
s3_remove(store *st, const char *name, pgark_err *err)
{
	s3_store   *s = (s3_store *) st;
	s3_req		rq;
	s3_resp		rs;
	char		what[700];

	snprintf(what, sizeof(what), "DeleteObject %s", name);
	memset(&rq, 0, sizeof(rq));
	rq.method = "DELETE";
	rq.key = name;
	rq.what = what;
	if (s3_request(s, &rq, &rs, err) != 0)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
		{
			err_clear(err);
			return 0;
		}
		return -1;
	}
	resp_free(&rs);
	return 0;
}

/* DeleteObjects: up to 1000 names per request, quiet mode (only failures listed). */
static int
s3_remove_many(store *st, const char *const *names, size_t n, pgark_err *err)
{
	s3_store   *s = (s3_store *) st;

	for (size_t first = 0; first < n; first += DELETE_BATCH)
	{
		size_t		last = first + DELETE_BATCH < n ? first + DELETE_BATCH : n;
		char	   *xml = NULL;
		size_t		xlen = 0;
		FILE	   *f = open_memstream(&xml, &xlen);
		unsigned char md5[16];
		char		md5b64[32];
		char		what[200];
		s3_req		rq;
		s3_resp		rs;
		int			rc;

		if (f == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		fputs("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>", f);
		for (size_t i = first; i < last; i++)
		{
			char		key[1100];

			if (!store_name_valid(names[i]))
			{
				fclose(f);
				free(xml);
				return err_set(err, PGARK_ERR_INTERNAL, 0, "invalid object name \"%s\"", names[i]);
			}
			full_key(s, names[i], key, sizeof(key));
			/* the name characters need no XML escaping */
			fprintf(f, "<Object><Key>%s</Key></Object>", key);
		}
		fputs("</Delete>", f);
		if (fclose(f) != 0)
		{
			free(xml);
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		}
		/* S3 requires Content-MD5 (or a checksum header) on DeleteObjects */
		if (EVP_Digest(xml, xlen, md5, NULL, EVP_md5(), NULL) != 1)
		{
			free(xml);
			return err_set(err, PGARK_ERR_INTERNAL, 0, "MD5 failed");
		}
		EVP_EncodeBlock((unsigned char *) md5b64, md5, 16);
		snprintf(what, sizeof(what), "DeleteObjects (%zu objects from %s)", last - first, names[first]);
		memset(&rq, 0, sizeof(rq));
		rq.method = "POST";
		rq.key = NULL;
		rq.query[rq.nquery++] = (sigv4_kv) {"delete", ""};
		rq.hdrs[rq.nhdrs++] = (sigv4_kv) {"content-md5", md5b64};
		rq.body = (const uint8_t *) xml;
		rq.bodylen = xlen;
		rq.what = what;
		rc = s3_request(s, &rq, &rs, err);
		free(xml);
		if (rc != 0)
			return -1;
		rc = s3xml_parse_delete((const char *) rs.body, rs.bodylen, err);
		resp_free(&rs);
		if (rc != 0)
			return err_prefix(err, "%s in %s", what, s->base.where);
	}
	return 0;
}

static void
s3_free(store *st)
{
	s3_store   *s = (s3_store *) st;

	pool_stop(s);
	if (s->main.curl)
		curl_easy_cleanup(s->main.curl);
	explicit_bzero(s->secret_key, sizeof(s->secret_key));
	explicit_bzero(s->session_token, sizeof(s->session_token));
	free(s);
}

static const store_ops s3_ops = {
	.name = "s3",
	.put_begin = s3_put_begin,
	.put_write = s3_put_write,
	.put_commit = s3_put_commit,
	.put_abort = s3_put_abort,
	.get = s3_get,
	.read = s3_read,
	.reader_close = s3_reader_close,
	.head = s3_head,
	.list = s3_list,
	.remove = s3_remove,
	.remove_many = s3_remove_many,
	.put_commit_async = s3_put_commit_async,
	.drain = s3_drain,
	.sync = NULL,				/* an object S3 answered 200 for is durable */
	.free = s3_free,
};

/* ---- credentials ---------------------------------------------------------- */

/*
 * The AWS shared credentials file: [profile] sections with
 * aws_access_key_id, aws_secret_access_key, aws_session_token. The profile is
 * $AWS_PROFILE or "default". Must not be readable by other users.
 */
static int
read_credentials_file(s3_store *s, const char *path, pgark_err *err)
{
	FILE	   *f = fopen(path, "r");
	const char *profile = getenv("AWS_PROFILE");
	char		line[4200];
	int			in_profile = 0;
	struct stat sb;

	if (profile == NULL || profile[0] == '\0')
		profile = "default";
	if (f == NULL)
		return err_sys(err, PGARK_ERR_CONFIG, "[repo] credentials_file: could not open \"%s\"", path);
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & S_IRWXO))
	{
		fclose(f);
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "[repo] credentials_file: other users can read \"%s\" (mode %04o): chmod o-rwx it",
					   path, (unsigned) (sb.st_mode & 07777));
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *p = line, *eq, *k, *v;
		size_t		l;

		while (*p == ' ' || *p == '\t')
			p++;
		l = strlen(p);
		while (l > 0 && (p[l - 1] == '\n' || p[l - 1] == '\r' || p[l - 1] == ' '))
			p[--l] = '\0';
		if (*p == '#' || *p == ';' || *p == '\0')
			continue;
		if (*p == '[')
		{
			char	   *close = strchr(p, ']');
			char		sect[256];

			if (close == NULL)
				continue;
			snprintf(sect, sizeof(sect), "%.*s", (int) (close - p - 1), p + 1);
			in_profile = strcmp(sect, profile) == 0;
			continue;
		}
		if (!in_profile || (eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		k = p;
		v = eq + 1;
		for (l = strlen(k); l > 0 && (k[l - 1] == ' ' || k[l - 1] == '\t'); l--)
			k[l - 1] = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcmp(k, "aws_access_key_id") == 0)
			snprintf(s->access_key, sizeof(s->access_key), "%s", v);
		else if (strcmp(k, "aws_secret_access_key") == 0)
			snprintf(s->secret_key, sizeof(s->secret_key), "%s", v);
		else if (strcmp(k, "aws_session_token") == 0)
			snprintf(s->session_token, sizeof(s->session_token), "%s", v);
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (s->access_key[0] == '\0' || s->secret_key[0] == '\0')
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "[repo] credentials_file \"%s\": profile [%s] has no aws_access_key_id and aws_secret_access_key",
					   path, profile);
	return 0;
}

static int
load_credentials(s3_store *s, const pgark_config *cfg, pgark_err *err)
{
	const char *ak, *sk, *tok;

	if (cfg->s3_access_key[0])
	{
		snprintf(s->access_key, sizeof(s->access_key), "%s", cfg->s3_access_key);
		snprintf(s->secret_key, sizeof(s->secret_key), "%s", cfg->s3_secret_key);
		snprintf(s->session_token, sizeof(s->session_token), "%s", cfg->s3_session_token);
		return 0;
	}
	if (cfg->s3_credentials_file[0])
		return read_credentials_file(s, cfg->s3_credentials_file, err);
	ak = getenv("AWS_ACCESS_KEY_ID");
	sk = getenv("AWS_SECRET_ACCESS_KEY");
	tok = getenv("AWS_SESSION_TOKEN");
	if (ak && ak[0] && sk && sk[0])
	{
		snprintf(s->access_key, sizeof(s->access_key), "%s", ak);
		snprintf(s->secret_key, sizeof(s->secret_key), "%s", sk);
		if (tok)
			snprintf(s->session_token, sizeof(s->session_token), "%s", tok);
		return 0;
	}
	return err_set(err, PGARK_ERR_CONFIG, 0,
				   "%s: no S3 credentials: set [repo] access_key and secret_key, or credentials_file, "
				   "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
				   cfg->source[0] ? cfg->source : "configuration");
}

store *
store_s3_open(const pgark_config *cfg, pgark_err *err)
{
	s3_store   *s;
	const char *ep;
	char		endpoint[600];
	const char *why;
	int			no_library;

	if (curlapi_load(&why, &no_library) != 0)
	{
		if (no_library)
			err_set(err, PGARK_ERR_INTERNAL, 0,
					"S3 repositories need libcurl (Debian: apt-get install libcurl4; a server archiving "
					"through pgark_archive.so must then be restarted): %s", why);
		else
			err_set(err, PGARK_ERR_INTERNAL, 0, "%s", why);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	s->base.ops = &s3_ops;
	if (load_credentials(s, cfg, err) != 0)
		goto fail;
	snprintf(s->bucket, sizeof(s->bucket), "%s", cfg->s3_bucket);
	snprintf(s->region, sizeof(s->region), "%s", cfg->s3_region[0] ? cfg->s3_region : "us-east-1");
	{
		const char *p = cfg->s3_prefix;
		size_t		l;

		while (*p == '/')
			p++;
		snprintf(s->prefix, sizeof(s->prefix), "%s", p);
		l = strlen(s->prefix);
		while (l > 0 && s->prefix[l - 1] == '/')
			s->prefix[--l] = '\0';
	}
	if (cfg->s3_endpoint[0])
		snprintf(endpoint, sizeof(endpoint), "%s", cfg->s3_endpoint);
	else
		snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", s->region);
	if (strncmp(endpoint, "https://", 8) == 0)
	{
		snprintf(s->scheme, sizeof(s->scheme), "https");
		ep = endpoint + 8;
	}
	else
	{
		snprintf(s->scheme, sizeof(s->scheme), "http");
		ep = endpoint + 7;
	}
	snprintf(s->hostport, sizeof(s->hostport), "%s", ep);
	{
		size_t		l = strlen(s->hostport);

		while (l > 0 && s->hostport[l - 1] == '/')
			s->hostport[--l] = '\0';
		if (l == 0 || strchr(s->hostport, '/') != NULL || strchr(s->hostport, '?') != NULL ||
			strchr(s->hostport, '@') != NULL)
		{
			err_set(err, PGARK_ERR_CONFIG, 0,
					"[repo] endpoint: \"%s\" must be scheme://host[:port] with no path", cfg->s3_endpoint);
			goto fail;
		}
	}
	if (strcmp(cfg->s3_uri_style, "path") == 0)
	{
		snprintf(s->host, sizeof(s->host), "%s", s->hostport);
		snprintf(s->path_base, sizeof(s->path_base), "/%s", s->bucket);
	}
	else
	{
		snprintf(s->host, sizeof(s->host), "%s.%s", s->bucket, s->hostport);
		s->path_base[0] = '\0';
	}
	snprintf(s->url_base, sizeof(s->url_base), "%s://%s", s->scheme, s->host);
	snprintf(s->ca_file, sizeof(s->ca_file), "%s", cfg->s3_ca_file);
	s->verify_tls = cfg->s3_verify_tls;
	snprintf(s->storage_class, sizeof(s->storage_class), "%s", cfg->s3_storage_class);
	snprintf(s->sse, sizeof(s->sse), "%s", cfg->s3_sse);
	snprintf(s->sse_kms_key_id, sizeof(s->sse_kms_key_id), "%s", cfg->s3_sse_kms_key_id);
	s->retries = cfg->s3_retries;
	s->connect_timeout = cfg->s3_connect_timeout;
	s->timeout = cfg->s3_timeout;
	s->multipart_threshold = (size_t) cfg->s3_multipart_threshold;
	s->part_size = (size_t) cfg->s3_part_size;
	s->main.rand_state = (unsigned int) time(NULL) ^ (unsigned int) getpid();
	s->transfers = cfg->s3_transfers;
	if (s->prefix[0])
		snprintf(s->base.where, sizeof(s->base.where), "s3://%s/%s", s->bucket, s->prefix);
	else
		snprintf(s->base.where, sizeof(s->base.where), "s3://%s", s->bucket);
	if ((s->main.curl = curl_easy_init()) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "libcurl could not be initialised");
		goto fail;
	}
	return &s->base;
fail:
	s3_free(&s->base);
	return NULL;
}
