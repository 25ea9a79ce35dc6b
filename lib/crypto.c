/* SHA256_Init and co., deprecated in OpenSSL 3 but what sha256_plain needs
 * (see there); before any OpenSSL header */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util.h"

/*
 * OpenSSL 3 looks an algorithm up by name (locks, string compares, a hash
 * walk) every time EVP_sha256(), HMAC() or an HKDF EVP_PKEY_CTX is used. A
 * base backup seals every 8 KiB chunk as its own object — an HKDF, a GCM key,
 * a SHA-256 and an HMAC each — so those lookups cost more than the
 * cryptography. The two algorithms are fetched once per process and live as
 * long as it; HMAC and HKDF are built on the fetched SHA-256 below.
 */
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;
static EVP_MD *alg_sha256;
static EVP_CIPHER *alg_gcm;

static void
algs_fetch(void)
{
	alg_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	alg_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* Each direction is keyed on first use: an object is either sealed or
 * opened, and a key schedule costs as much as sealing a small chunk. */
struct gcm_ctx
{
	uint8_t		key[AES256_KEY_LEN];
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	int			enc_stale;		/* gcm_rekey since enc was keyed */
	int			dec_stale;
};

static int
ossl_fail(pgark_err *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char		buf[256];

	if (e == 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "OpenSSL %s failed (OpenSSL gave no error code)", what);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	/* without its strings (crypto_program_init) a code alone: say how to
	 * read it; a system error's text is there either way */
	if (!ERR_SYSTEM_ERROR(e) && ERR_reason_error_string(e) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0,
					   "OpenSSL %s failed: %s (\"openssl errstr %08lX\" says what it means)", what, buf, e);
	return err_set(err, PGARK_ERR_INTERNAL, 0, "OpenSSL %s failed: %s", what, buf);
}

void
crypto_program_init(int own_use_only)
{
	uint64_t	opts = OPENSSL_INIT_NO_ATEXIT;

	/* NO_LOAD_CRYPTO_STRINGS uses up OpenSSL's one loading of its error
	 * strings: nothing else in the process (libpq's or libcurl's TLS) may
	 * then want them, hence only with own_use_only */
	if (own_use_only)
		opts |= OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS |
			OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS;
	(void) OPENSSL_init_crypto(opts, NULL);
}

static int
algs_ready(pgark_err *err)
{
	pthread_once(&algs_once, algs_fetch);
	if (alg_sha256 == NULL || alg_gcm == NULL)
		return ossl_fail(err, "loading SHA-256 and AES-256-GCM from the default provider");
	return 0;
}

gcm_ctx *
gcm_new(const uint8_t key[AES256_KEY_LEN], pgark_err *err)
{
	gcm_ctx    *g;

	if (algs_ready(err) != 0)
		return NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	memcpy(g->key, key, AES256_KEY_LEN);
	return g;
}

void
gcm_rekey(gcm_ctx *g, const uint8_t key[AES256_KEY_LEN])
{
	memcpy(g->key, key, AES256_KEY_LEN);
	g->enc_stale = g->enc != NULL;
	g->dec_stale = g->dec != NULL;
}

/* The context of one direction, keyed on first use (re-keyed in place after
 * gcm_rekey: no new context, no algorithm lookup). */
static EVP_CIPHER_CTX *
gcm_dir(gcm_ctx *g, int enc, pgark_err *err)
{
	EVP_CIPHER_CTX **c = enc ? &g->enc : &g->dec;
	int		   *stale = enc ? &g->enc_stale : &g->dec_stale;

	if (*c != NULL && !*stale)
		return *c;
	if (*c != NULL)
	{
		if ((enc ? EVP_EncryptInit_ex2(*c, NULL, g->key, NULL, NULL)
			 : EVP_DecryptInit_ex2(*c, NULL, g->key, NULL, NULL)) == 1)
		{
			*stale = 0;
			return *c;
		}
		EVP_CIPHER_CTX_free(*c);
		*c = NULL;
	}
	else if ((*c = EVP_CIPHER_CTX_new()) != NULL &&
			 (enc ? EVP_EncryptInit_ex2(*c, alg_gcm, g->key, NULL, NULL)
			  : EVP_DecryptInit_ex2(*c, alg_gcm, g->key, NULL, NULL)) == 1)
	{
		*stale = 0;
		return *c;
	}
	ossl_fail(err, "AES-256-GCM init");
	EVP_CIPHER_CTX_free(*c);
	*c = NULL;
	return NULL;
}

void
gcm_free(gcm_ctx *g)
{
	if (g == NULL)
		return;
	EVP_CIPHER_CTX_free(g->enc);	/* cleanses the key schedule */
	EVP_CIPHER_CTX_free(g->dec);
	secure_zero(g->key, sizeof(g->key));
	free(g);
}

int
gcm_seal(gcm_ctx *g, const uint8_t nonce[GCM_NONCE_LEN], const uint8_t *aad, size_t aadlen,
		 const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[GCM_TAG_LEN], pgark_err *err)
{
	int			outl;

	if (gcm_dir(g, 1, err) == NULL)
		return -1;
	if (EVP_EncryptInit_ex2(g->enc, NULL, NULL, nonce, NULL) != 1)
		return ossl_fail(err, "GCM nonce");
	if (aadlen > 0 && EVP_EncryptUpdate(g->enc, NULL, &outl, aad, (int) aadlen) != 1)
		return ossl_fail(err, "GCM AAD");
	if (len > 0 && EVP_EncryptUpdate(g->enc, out, &outl, in, (int) len) != 1)
		return ossl_fail(err, "GCM encrypt");
	if (EVP_EncryptFinal_ex(g->enc, out + len, &outl) != 1)
		return ossl_fail(err, "GCM final");
	if (EVP_CIPHER_CTX_ctrl(g->enc, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) != 1)
		return ossl_fail(err, "GCM tag");
	return 0;
}

int
gcm_open(gcm_ctx *g, const uint8_t nonce[GCM_NONCE_LEN], const uint8_t *aad, size_t aadlen,
		 const uint8_t *in, size_t len, uint8_t *out, const uint8_t tag[GCM_TAG_LEN], pgark_err *err)
{
	int			outl;
	uint8_t		tagcopy[GCM_TAG_LEN];

	memcpy(tagcopy, tag, GCM_TAG_LEN);
	if (gcm_dir(g, 0, err) == NULL)
		return -1;
	if (EVP_DecryptInit_ex2(g->dec, NULL, NULL, nonce, NULL) != 1)
		return ossl_fail(err, "GCM nonce");
	if (aadlen > 0 && EVP_DecryptUpdate(g->dec, NULL, &outl, aad, (int) aadlen) != 1)
		return ossl_fail(err, "GCM AAD");
	if (len > 0 && EVP_DecryptUpdate(g->dec, out, &outl, in, (int) len) != 1)
		return ossl_fail(err, "GCM decrypt");
	if (EVP_CIPHER_CTX_ctrl(g->dec, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tagcopy) != 1)
		return ossl_fail(err, "GCM set tag");
	if (EVP_DecryptFinal_ex(g->dec, out + len, &outl) != 1)
	{
		ERR_clear_error();
		return err_set(err, PGARK_ERR_CORRUPT, 0, "authentication failed");
	}
	return 0;
}

/*
 * HMAC-SHA256 (RFC 2104) over the concatenation of n parts, spelled out on one
 * digest context: H((K ^ opad) | H((K ^ ipad) | parts)), K the key padded to
 * the 64-byte block (hashed first if longer). OpenSSL's own HMAC keeps three
 * digest contexts per use; a chunk of a base backup needs three HMACs.
 * Checked against RFC 4231 in t/unit/test_crypto.
 */
#define SHA256_BLOCK 64

static int
hmac_parts(const uint8_t *key, size_t keylen, const void *const *parts, const size_t *lens, int n,
		   uint8_t out[SHA256_LEN], pgark_err *err)
{
	EVP_MD_CTX *md;
	uint8_t		k[SHA256_BLOCK] = {0},
				pad[SHA256_BLOCK],
				inner[SHA256_LEN];
	int			ok;

	if (algs_ready(err) != 0)
		return -1;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return ossl_fail(err, "HMAC context");
	ok = 1;
	if (keylen > SHA256_BLOCK)
		ok = EVP_Digest(key, keylen, k, NULL, alg_sha256, NULL) == 1;
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ok = ok && EVP_DigestInit_ex2(md, alg_sha256, NULL) == 1 &&
		EVP_DigestUpdate(md, pad, SHA256_BLOCK) == 1;
	for (int i = 0; ok && i < n; i++)
		ok = lens[i] == 0 || EVP_DigestUpdate(md, parts[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(md, inner, NULL) == 1;
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && EVP_DigestInit_ex2(md, alg_sha256, NULL) == 1 &&
		EVP_DigestUpdate(md, pad, SHA256_BLOCK) == 1 &&
		EVP_DigestUpdate(md, inner, SHA256_LEN) == 1 &&
		EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	secure_zero(k, sizeof(k));
	secure_zero(pad, sizeof(pad));
	secure_zero(inner, sizeof(inner));
	return ok ? 0 : ossl_fail(err, "HMAC-SHA256");
}

int
hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
			uint8_t out[SHA256_LEN], pgark_err *err)
{
	const void *parts[1] = {data};

	return hmac_parts(key, keylen, parts, &len, 1, out, err);
}

/*
 * RFC 5869, spelled out over HMAC-SHA256 (OpenSSL 3.0 cannot duplicate an
 * HKDF context, and a fresh one costs a provider lookup):
 *   PRK  = HMAC(salt, IKM)                 salt absent = 32 zero bytes
 *   T(i) = HMAC(PRK, T(i-1) | info | i)    T(0) empty; OKM = T(1) | T(2) ...
 */
int
hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
			const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen, pgark_err *err)
{
	static const uint8_t zeros[SHA256_LEN];
	uint8_t		prk[SHA256_LEN],
				t[SHA256_LEN];
	size_t		done = 0;
	int			rc = 0;

	if (outlen > 255 * SHA256_LEN)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "HKDF-SHA256: %zu bytes asked, at most %d",
					   outlen, 255 * SHA256_LEN);
	if (saltlen == 0)
	{
		salt = zeros;
		saltlen = sizeof(zeros);
	}
	{
		const void *parts[1] = {ikm};
		size_t		lens[1] = {ikmlen};

		rc = hmac_parts(salt, saltlen, parts, lens, 1, prk, err);
	}
	for (uint8_t i = 1; rc == 0 && done < outlen; i++)
	{
		const void *parts[3] = {t, info, &i};
		size_t		lens[3] = {i == 1 ? 0 : SHA256_LEN, infolen, 1};
		size_t		n = outlen - done < SHA256_LEN ? outlen - done : SHA256_LEN;

		if ((rc = hmac_parts(prk, sizeof(prk), parts, lens, 3, t, err)) == 0)
		{
			memcpy(out + done, t, n);
			done += n;
		}
	}
	secure_zero(prk, sizeof(prk));
	secure_zero(t, sizeof(t));
	return rc;
}

struct sha256_ctx
{
	EVP_MD_CTX *md;
};

sha256_ctx *
sha256_new(pgark_err *err)
{
	sha256_ctx *s;

	if (algs_ready(err) != 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->md = EVP_MD_CTX_new()) == NULL ||
		EVP_DigestInit_ex2(s->md, alg_sha256, NULL) != 1)
	{
		ossl_fail(err, "SHA-256 init");
		sha256_free(s);
		return NULL;
	}
	return s;
}

void
sha256_update(sha256_ctx *s, const void *data, size_t len)
{
	if (len > 0)
		EVP_DigestUpdate(s->md, data, len);
}

void
sha256_final(sha256_ctx *s, uint8_t out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	EVP_DigestFinal_ex(s->md, out, &n);
	EVP_DigestInit_ex2(s->md, alg_sha256, NULL);
}

void
sha256_free(sha256_ctx *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->md);
	free(s);
}

int
sha256_once(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	if (algs_ready(NULL) != 0 || EVP_Digest(data, len, out, &n, alg_sha256, NULL) != 1)
	{
		memset(out, 0, SHA256_LEN);
		return -1;
	}
	return 0;
}

void
sha256_plain(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	SHA256_CTX	c;

	/* the low-level functions: no provider, so no library initialisation
	 * (reading openssl.cnf, fetching algorithms), which EVP_Digest and even
	 * the one-shot SHA256() start */
	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(out, &c);
	secure_zero(&c, sizeof(c));
}

int
random_bytes(uint8_t *out, size_t n, pgark_err *err)
{
	if (RAND_bytes(out, (int) n) != 1)
		return ossl_fail(err, "random bytes");
	return 0;
}

/*
 * XXH64, written from the published xxHash specification (Yann Collet,
 * "xxHash fast digest algorithm", doc/xxhash_spec.md, version 0.1.1).
 */
#define P1 UINT64_C(11400714785074694791)
#define P2 UINT64_C(14029467366897019727)
#define P3 UINT64_C(1609587929392839161)
#define P4 UINT64_C(9650029242287828579)
#define P5 UINT64_C(2870177450012600261)

static inline uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t
xxround(uint64_t acc, uint64_t lane)
{
	acc += lane * P2;
	acc = rotl64(acc, 31);
	return acc * P1;
}

static inline uint64_t
xxmerge(uint64_t acc, uint64_t v)
{
	acc ^= xxround(0, v);
	return acc * P1 + P4;
}

void
xxh64_init(xxh64_state *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->v[0] = seed + P1 + P2;
	s->v[1] = seed + P2;
	s->v[2] = seed;
	s->v[3] = seed - P1;
}

static void
xxh64_stripe(uint64_t v[4], const uint8_t *p)
{
	v[0] = xxround(v[0], get_le64(p));
	v[1] = xxround(v[1], get_le64(p + 8));
	v[2] = xxround(v[2], get_le64(p + 16));
	v[3] = xxround(v[3], get_le64(p + 24));
}

void
xxh64_update(xxh64_state *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint8_t *end = p + len;

	s->total_len += len;
	if (s->memsize + len < 32)
	{
		if (len > 0)
			memcpy(s->mem + s->memsize, p, len);
		s->memsize += (uint32_t) len;
		return;
	}
	if (s->memsize > 0)
	{
		size_t		fill = 32 - s->memsize;

		memcpy(s->mem + s->memsize, p, fill);
		xxh64_stripe(s->v, s->mem);
		p += fill;
		s->memsize = 0;
	}
	if (end - p >= 32)
	{
		/* in registers: stores through s->v would have to be assumed to
		 * change the bytes p points to, and reloaded every stripe */
		uint64_t	v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];

		do
		{
			v0 = xxround(v0, get_le64(p));
			v1 = xxround(v1, get_le64(p + 8));
			v2 = xxround(v2, get_le64(p + 16));
			v3 = xxround(v3, get_le64(p + 24));
			p += 32;
		} while (end - p >= 32);
		s->v[0] = v0;
		s->v[1] = v1;
		s->v[2] = v2;
		s->v[3] = v3;
	}
	if (p < end)
	{
		memcpy(s->mem, p, (size_t) (end - p));
		s->memsize = (uint32_t) (end - p);
	}
}

uint64_t
xxh64_digest(const xxh64_state *s)
{
	uint64_t	h;
	const uint8_t *p = s->mem;
	const uint8_t *end = p + s->memsize;

	if (s->total_len >= 32)
	{
		h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
		h = xxmerge(h, s->v[0]);
		h = xxmerge(h, s->v[1]);
		h = xxmerge(h, s->v[2]);
		h = xxmerge(h, s->v[3]);
	}
	else
		h = s->seed + P5;
	h += s->total_len;
	while (end - p >= 8)
	{
		h ^= xxround(0, get_le64(p));
		h = rotl64(h, 27) * P1 + P4;
		p += 8;
	}
	if (end - p >= 4)
	{
		h ^= (uint64_t) get_le32(p) * P1;
		h = rotl64(h, 23) * P2 + P3;
		p += 4;
	}
	while (p < end)
	{
		h ^= (uint64_t) (*p) * P5;
		h = rotl64(h, 11) * P1;
		p++;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t
xxh64(const void *data, size_t len, uint64_t seed)
{
	xxh64_state s;

	xxh64_init(&s, seed);
	xxh64_update(&s, data, len);
	return xxh64_digest(&s);
}
