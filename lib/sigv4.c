/*
 * sigv4.c — AWS Signature Version 4 (Authorization header), see sigv4.h.
 *
 * Written from AWS's description of the algorithm (IAM User Guide, "Create a
 * signed AWS API request"; Amazon S3 API Reference, "Signature Calculations
 * for the Authorization Header"):
 *
 *   canonical request = method \n canonical URI \n canonical query \n
 *                       canonical headers (name:value\n each) \n
 *                       signed headers \n payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n amz_date \n scope \n
 *                       hex(SHA-256(canonical request))
 *   scope             = YYYYMMDD/region/service/aws4_request
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, YYYYMMDD),
 *                                      region), service), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * Pinned by t/unit/test_sigv4.c with AWS's published test vectors.
 */
#include "sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* ------------------------------------------------------------------ string builder */

/* A growing NUL-terminated string; after a failed allocation only oom is set. */
typedef struct sbuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	int			oom;
} sbuf;

static void
sb_putn(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->data == NULL || b->cap - b->len <= n)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *nd;

		while (cap - b->len <= n)
		{
			if (cap > SIZE_MAX / 2)
			{
				b->oom = 1;
				return;
			}
			cap *= 2;
		}
		nd = realloc(b->data, cap);
		if (nd == NULL)
		{
			b->oom = 1;
			return;
		}
		b->data = nd;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
sb_puts(sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void
sb_putc(sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

/* The string (malloc'd, caller frees), or NULL after an allocation failure. */
static char *
sb_finish(sbuf *b)
{
	sb_putn(b, "", 0);			/* allocates "" for an empty string */
	if (b->oom)
	{
		free(b->data);
		b->data = NULL;
		return NULL;
	}
	return b->data;
}

static int
oom(pgark_err *err)
{
	return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: out of memory");
}

/* ------------------------------------------------------------------ encoding */

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~';
}

static int
is_upper_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static void
sb_put_encoded(sbuf *b, const char *in, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (is_unreserved(c) || (keep_slash && c == '/'))
			sb_putc(b, (char) c);
		else
		{
			char		e[3];

			e[0] = '%';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			sb_putn(b, e, 3);
		}
	}
}

char *
sigv4_uri_encode(const char *in, int keep_slash)
{
	sbuf		b = {0};

	if (in == NULL)
		in = "";
	sb_put_encoded(&b, in, strlen(in), keep_slash);
	return sb_finish(&b);
}

/* ------------------------------------------------------------------ query */

typedef struct qpair
{
	char	   *name;
	char	   *value;
} qpair;

static int
qpair_cmp(const void *a, const void *b)
{
	const qpair *x = a;
	const qpair *y = b;
	int			c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

char *
sigv4_canonical_query(const sigv4_kv *query, size_t nquery)
{
	qpair	   *pairs;
	sbuf		b = {0};
	size_t		done = 0;

	if (nquery == 0 || query == NULL)
		return sb_finish(&b);
	pairs = calloc(nquery, sizeof(*pairs));
	if (pairs == NULL)
		return NULL;
	for (; done < nquery; done++)
	{
		const char *name = query[done].name ? query[done].name : "";
		const char *value = query[done].value ? query[done].value : "";

		pairs[done].name = sigv4_uri_encode(name, 0);
		pairs[done].value = sigv4_uri_encode(value, 0);
		if (pairs[done].name == NULL || pairs[done].value == NULL)
		{
			done++;
			b.oom = 1;
			break;
		}
	}
	if (!b.oom)
	{
		qsort(pairs, nquery, sizeof(*pairs), qpair_cmp);
		for (size_t i = 0; i < nquery; i++)
		{
			if (i > 0)
				sb_putc(&b, '&');
			sb_puts(&b, pairs[i].name);
			sb_putc(&b, '=');
			sb_puts(&b, pairs[i].value);
		}
	}
	for (size_t i = 0; i < done; i++)
	{
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	return sb_finish(&b);
}

/* ------------------------------------------------------------------ path */

/*
 * The canonical URI of a non-S3 service: dot segments removed (RFC 3986
 * 5.2.4), empty segments (duplicate slashes) dropped, each remaining segment
 * URI-encoded again. A path that ended with '/' (or with a dot segment) keeps
 * one trailing '/'.
 */
static void
sb_put_normalized_path(sbuf *b, const char *path)
{
	size_t		len = strlen(path);
	size_t		maxseg = len / 2 + 1;
	const char **seg;
	size_t	   *seglen;
	size_t		nseg = 0;
	int			trailing = 0;
	const char *p = path;

	seg = malloc(maxseg * sizeof(*seg));
	seglen = malloc(maxseg * sizeof(*seglen));
	if (seg == NULL || seglen == NULL)
	{
		free(seg);
		free(seglen);
		b->oom = 1;
		return;
	}
	while (*p != '\0')
	{
		const char *start;
		size_t		n;

		if (*p == '/')
		{
			p++;
			continue;
		}
		start = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = (size_t) (p - start);
		if (n == 1 && start[0] == '.')
			trailing = 1;
		else if (n == 2 && start[0] == '.' && start[1] == '.')
		{
			if (nseg > 0)
				nseg--;
			trailing = 1;
		}
		else
		{
			/* a segment has at least one byte and one '/' before it */
			seg[nseg] = start;
			seglen[nseg] = n;
			nseg++;
			trailing = 0;
		}
	}
	if (len > 0 && path[len - 1] == '/')
		trailing = 1;

	sb_putc(b, '/');
	for (size_t i = 0; i < nseg; i++)
	{
		if (i > 0)
			sb_putc(b, '/');
		sb_put_encoded(b, seg[i], seglen[i], 0);
	}
	if (trailing && nseg > 0)
		sb_putc(b, '/');
	free(seg);
	free(seglen);
}

/* Is path exactly what sigv4_uri_encode(x, 1) can produce (S3 rule)? */
static int
path_is_encoded(const char *path)
{
	for (const unsigned char *p = (const unsigned char *) path; *p != '\0'; p++)
	{
		if (is_unreserved(*p) || *p == '/')
			continue;
		if (*p == '%' && is_upper_hex(p[1]) && is_upper_hex(p[2]))
		{
			p += 2;
			continue;
		}
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ headers */

typedef struct hdr
{
	char	   *name;			/* lower-cased */
	char	   *value;			/* trimmed, inner whitespace folded */
	size_t		order;			/* position in req->headers */
} hdr;

static int
hdr_cmp(const void *a, const void *b)
{
	const hdr  *x = a;
	const hdr  *y = b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->order > y->order) - (x->order < y->order);
}

/* RFC 9110 token characters (header field names, methods). */
static int
is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!is_tchar((unsigned char) *s))
			return 0;
	return 1;
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *
lower_dup(const char *s)
{
	size_t		n = strlen(s);
	char	   *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char) (s[i] - 'A' + 'a') : s[i];
	return out;
}

/* Leading and trailing whitespace removed, each inner run made one space. */
static char *
trimall_dup(const char *s)
{
	size_t		n = strlen(s);
	char	   *out = malloc(n + 1);
	size_t		o = 0;
	int			pending_space = 0;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++)
	{
		if (is_ws(*s))
		{
			pending_space = (o > 0);
			continue;
		}
		if (pending_space)
			out[o++] = ' ';
		pending_space = 0;
		out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

static void
free_hdrs(hdr *h, size_t n)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < n; i++)
	{
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

/* ------------------------------------------------------------------ signing */

static int
valid_amz_date(const char *d)
{
	if (d == NULL || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return 0;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (d[i] < '0' || d[i] > '9'))
			return 0;
	return 1;
}

/* Goes into the Authorization header and the scope: printable, no separators. */
static int
valid_scope_part(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~' || *s == '/' || *s == ',' || *s == ';')
			return 0;
	return 1;
}

static int
valid_payload_hash(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

static int
check_request(const sigv4_request *req, const sigv4_creds *creds, const char *amz_date,
			  pgark_err *err)
{
	if (creds == NULL || !valid_scope_part(creds->access_key) || creds->secret_key == NULL ||
		creds->secret_key[0] == '\0' || !valid_scope_part(creds->region) ||
		!valid_scope_part(creds->service))
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "sigv4: access key, secret key, region and service must all be set "
					   "(and the access key, region and service be printable, without '/', ',' or ';')");
	if (!valid_amz_date(amz_date))
		return err_set(err, PGARK_ERR_INTERNAL, 0,
					   "sigv4: date \"%s\" is not of the form YYYYMMDDTHHMMSSZ",
					   amz_date ? amz_date : "(null)");
	if (req == NULL || !is_token(req->method))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: missing or malformed HTTP method");
	if (req->path == NULL || req->path[0] != '/')
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: path \"%s\" does not start with '/'",
					   req->path ? req->path : "(null)");
	if (!req->normalize_path && !path_is_encoded(req->path))
		return err_set(err, PGARK_ERR_INTERNAL, 0,
					   "sigv4: path \"%s\" is not URI-encoded as sigv4_uri_encode() does it",
					   req->path);
	if (!valid_payload_hash(req->payload_hash))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: missing or malformed payload hash");
	if ((req->nquery > 0 && req->query == NULL) || (req->nheaders > 0 && req->headers == NULL))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: query or header array missing");
	for (size_t i = 0; i < req->nquery; i++)
		if (req->query[i].name == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: query parameter %zu has no name", i);
	for (size_t i = 0; i < req->nheaders; i++)
	{
		if (!is_token(req->headers[i].name))
			return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: malformed header name \"%s\"",
						   req->headers[i].name ? req->headers[i].name : "(null)");
		if (req->headers[i].value == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: header %s has no value",
						   req->headers[i].name);
	}
	return 0;
}

/*
 * Canonical headers ("name:v1,v2\n" per distinct name, sorted) and the signed
 * header list ("a;b;c"), after checking host is there and x-amz-date, if
 * there, equals amz_date.
 */
static int
build_headers(const sigv4_request *req, const char *amz_date, sbuf *canon, sbuf *signed_hdrs,
			  pgark_err *err)
{
	hdr		   *h;
	size_t		n = req->nheaders;
	int			have_host = 0;

	if (n == 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: no host header to sign");
	h = calloc(n, sizeof(*h));
	if (h == NULL)
		return oom(err);
	for (size_t i = 0; i < n; i++)
	{
		h[i].name = lower_dup(req->headers[i].name);
		h[i].value = trimall_dup(req->headers[i].value);
		h[i].order = i;
		if (h[i].name == NULL || h[i].value == NULL)
		{
			free_hdrs(h, i + 1);
			return oom(err);
		}
		if (strcmp(h[i].name, "host") == 0)
			have_host = 1;
		else if (strcmp(h[i].name, "x-amz-date") == 0 && strcmp(h[i].value, amz_date) != 0)
		{
			err_set(err, PGARK_ERR_INTERNAL, 0,
					"sigv4: x-amz-date header \"%s\" differs from the signing date \"%s\"",
					h[i].value, amz_date);
			free_hdrs(h, i + 1);
			return -1;
		}
	}
	if (!have_host)
	{
		free_hdrs(h, n);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: no host header to sign");
	}
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0)
		{
			sb_putc(canon, ',');
			sb_puts(canon, h[i].value);
			continue;
		}
		if (i > 0)
		{
			sb_putc(canon, '\n');
			sb_putc(signed_hdrs, ';');
		}
		sb_puts(canon, h[i].name);
		sb_putc(canon, ':');
		sb_puts(canon, h[i].value);
		sb_puts(signed_hdrs, h[i].name);
	}
	sb_putc(canon, '\n');
	free_hdrs(h, n);
	if (canon->oom || signed_hdrs->oom)
		return oom(err);
	return 0;
}

static int
hmac_str(const uint8_t *key, size_t keylen, const char *msg, uint8_t out[SHA256_LEN],
		 pgark_err *err)
{
	return hmac_sha256(key, keylen, (const uint8_t *) msg, strlen(msg), out, err);
}

/* signature = hex(HMAC(signing key, sts)) */
static int
compute_signature(const sigv4_creds *creds, const char *date8, const char *sts, char out[65],
				  pgark_err *err)
{
	sbuf		ksecret = {0};
	uint8_t		k[4][SHA256_LEN];	/* kDate, kRegion, kService, kSigning */
	uint8_t		sig[SHA256_LEN];
	int			rc = -1;

	sb_puts(&ksecret, "AWS4");
	sb_puts(&ksecret, creds->secret_key);
	if (ksecret.oom)
	{
		free(ksecret.data);
		return oom(err);
	}
	if (hmac_str((const uint8_t *) ksecret.data, ksecret.len, date8, k[0], err) == 0 &&
		hmac_str(k[0], SHA256_LEN, creds->region, k[1], err) == 0 &&
		hmac_str(k[1], SHA256_LEN, creds->service, k[2], err) == 0 &&
		hmac_str(k[2], SHA256_LEN, "aws4_request", k[3], err) == 0 &&
		hmac_str(k[3], SHA256_LEN, sts, sig, err) == 0)
	{
		hex_encode(sig, sizeof(sig), out);
		rc = 0;
	}
	secure_zero(ksecret.data, ksecret.len);
	free(ksecret.data);
	secure_zero(k, sizeof(k));
	return rc;
}

int
sigv4_sign(const sigv4_request *req, const sigv4_creds *creds, const char *amz_date,
		   char *authz, size_t authzlen, sigv4_debug *dbg, pgark_err *err)
{
	sbuf		creq = {0};
	sbuf		canon_hdrs = {0};
	sbuf		signed_hdrs = {0};
	sbuf		sts = {0};
	char	   *query = NULL;
	char		date8[9];
	char		creq_hash[65];
	char		signature[65];
	int			rc = -1;
	int			n;

	if (authz != NULL && authzlen > 0)
		authz[0] = '\0';
	if (dbg != NULL)
		memset(dbg, 0, sizeof(*dbg));
	if (authz == NULL || authzlen == 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "sigv4: no buffer for the Authorization header");
	if (check_request(req, creds, amz_date, err) != 0)
		return -1;
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';

	/* canonical request */
	if (build_headers(req, amz_date, &canon_hdrs, &signed_hdrs, err) != 0)
		goto out;
	query = sigv4_canonical_query(req->query, req->nquery);
	if (query == NULL)
	{
		oom(err);
		goto out;
	}
	sb_puts(&creq, req->method);
	sb_putc(&creq, '\n');
	if (req->normalize_path)
		sb_put_normalized_path(&creq, req->path);
	else
		sb_puts(&creq, req->path);
	sb_putc(&creq, '\n');
	sb_puts(&creq, query);
	sb_putc(&creq, '\n');
	sb_puts(&creq, canon_hdrs.data);
	sb_putc(&creq, '\n');
	sb_puts(&creq, signed_hdrs.data);
	sb_putc(&creq, '\n');
	sb_puts(&creq, req->payload_hash);
	if (creq.oom)
	{
		oom(err);
		goto out;
	}

	/* string to sign */
	sigv4_sha256_hex(creq.data, creq.len, creq_hash);
	sb_puts(&sts, SIGV4_ALGORITHM "\n");
	sb_puts(&sts, amz_date);
	sb_putc(&sts, '\n');
	sb_puts(&sts, date8);
	sb_putc(&sts, '/');
	sb_puts(&sts, creds->region);
	sb_putc(&sts, '/');
	sb_puts(&sts, creds->service);
	sb_puts(&sts, "/aws4_request\n");
	sb_puts(&sts, creq_hash);
	if (sts.oom)
	{
		oom(err);
		goto out;
	}

	if (compute_signature(creds, date8, sts.data, signature, err) != 0)
		goto out;

	n = snprintf(authz, authzlen,
				 SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
				 creds->access_key, date8, creds->region, creds->service, signed_hdrs.data,
				 signature);
	if (n < 0 || (size_t) n >= authzlen)
	{
		authz[0] = '\0';
		err_set(err, PGARK_ERR_INTERNAL, 0,
				"sigv4: Authorization header (%d bytes) does not fit its %zu-byte buffer",
				n, authzlen);
		goto out;
	}

	if (dbg != NULL)
	{
		dbg->canonical_request = creq.data;
		dbg->string_to_sign = sts.data;
		creq.data = NULL;
		sts.data = NULL;
		memcpy(dbg->signature, signature, sizeof(dbg->signature));
	}
	rc = 0;

out:
	free(creq.data);
	free(canon_hdrs.data);
	free(signed_hdrs.data);
	free(sts.data);
	free(query);
	return rc;
}

void
sigv4_debug_free(sigv4_debug *dbg)
{
	if (dbg == NULL)
		return;
	free(dbg->canonical_request);
	free(dbg->string_to_sign);
	memset(dbg, 0, sizeof(*dbg));
}

void
sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t		md[SHA256_LEN];

	if (sha256_once(data, len, md) != 0)
	{
		/* not hex: the request cannot be signed, so S3 refuses it */
		snprintf(out, 65, "sha256-failed");
		return;
	}
	hex_encode(md, sizeof(md), out);
}
