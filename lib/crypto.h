/*
 * crypto.h — the primitives pgark uses, over OpenSSL: AES-256-GCM, HKDF-SHA256,
 * SHA-256, HMAC-SHA256, random bytes; and XXH64 (our own implementation of the
 * published xxHash64 algorithm), the fast plaintext checksum of the container.
 */
#ifndef PGARK_CRYPTO_H
#define PGARK_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AES256_KEY_LEN 32
#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16
#define SHA256_LEN 32

/* A reusable AES-256-GCM context bound to one key. Not thread-safe: use one
 * per thread. */
typedef struct gcm_ctx gcm_ctx;

gcm_ctx    *gcm_new(const uint8_t key[AES256_KEY_LEN], pgark_err *err);
void		gcm_free(gcm_ctx *g);
/* The same context for another key (the old one's key schedule is
 * overwritten when the new key is first used). */
void		gcm_rekey(gcm_ctx *g, const uint8_t key[AES256_KEY_LEN]);
/* Encrypt in -> out (same length, may alias), tag written to tag. */
int			gcm_seal(gcm_ctx *g, const uint8_t nonce[GCM_NONCE_LEN],
					 const uint8_t *aad, size_t aadlen,
					 const uint8_t *in, size_t len, uint8_t *out,
					 uint8_t tag[GCM_TAG_LEN], pgark_err *err);
/* Decrypt and authenticate. Returns 0 if the tag verifies, -1 otherwise
 * (err kind CORRUPT; out must then be discarded). */
int			gcm_open(gcm_ctx *g, const uint8_t nonce[GCM_NONCE_LEN],
					 const uint8_t *aad, size_t aadlen,
					 const uint8_t *in, size_t len, uint8_t *out,
					 const uint8_t tag[GCM_TAG_LEN], pgark_err *err);

/* RFC 5869 HKDF with SHA-256. */
int			hkdf_sha256(const uint8_t *salt, size_t saltlen,
						const uint8_t *ikm, size_t ikmlen,
						const uint8_t *info, size_t infolen,
						uint8_t *out, size_t outlen, pgark_err *err);

int			hmac_sha256(const uint8_t *key, size_t keylen,
						const uint8_t *data, size_t len,
						uint8_t out[SHA256_LEN], pgark_err *err);

/* Incremental SHA-256. */
typedef struct sha256_ctx sha256_ctx;
sha256_ctx *sha256_new(pgark_err *err);
void		sha256_update(sha256_ctx *s, const void *data, size_t len);
void		sha256_final(sha256_ctx *s, uint8_t out[SHA256_LEN]);	/* resets for reuse */
void		sha256_free(sha256_ctx *s);
/* 0, or -1 if OpenSSL cannot compute it (out is then all zeros: callers
 * that compare must check). */
int			sha256_once(const void *data, size_t len, uint8_t out[SHA256_LEN]);
/*
 * The same digest without OpenSSL's library initialisation (about 1 ms of
 * start-up: openssl.cnf read, algorithms fetched), for a program that may
 * need nothing else of OpenSSL, such as wal-fetch serving a prefetched
 * segment (spool_dir). Bypasses the providers: for names and ids only.
 */
void		sha256_plain(const void *data, size_t len, uint8_t out[SHA256_LEN]);

int			random_bytes(uint8_t *out, size_t n, pgark_err *err);

/*
 * For a program that exits right after its work (wal-fetch), called before
 * anything else in the process uses OpenSSL:
 *  - OpenSSL frees nothing at exit (OPENSSL_INIT_NO_ATEXIT), as the kernel
 *    takes the whole process back anyway: 0.1-0.3 ms;
 *  - with own_use_only (nothing but pgark's own code will use OpenSSL in
 *    this process: no libcurl, whose TLS may look names up there), the
 *    table of legacy algorithm names (EVP_get_cipherbyname and co.) is not
 *    filled (OPENSSL_INIT_NO_ADD_ALL_CIPHERS and _DIGESTS): pgark fetches
 *    its algorithms from the providers by name and never looks there;
 *    about 0.3 ms. Nor are OpenSSL's error strings loaded (its first error
 *    queue, made by the first fetch, would load them all:
 *    OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, about 0.2 ms): a failure of
 *    OpenSSL is then told by its code, with the "openssl errstr" command
 *    that spells it out.
 * The configuration file is still read at the first use, and its providers
 * and default properties (a FIPS setup) apply as before. Never from the
 * archive library: these are process-wide choices, not the library's to
 * make for the server that loaded it.
 */
void		crypto_program_init(int own_use_only);

/* Incremental XXH64 (seed 0 in the container). */
typedef struct xxh64_state
{
	uint64_t	total_len;
	uint64_t	v[4];
	uint8_t		mem[32];
	uint32_t	memsize;
	uint64_t	seed;
} xxh64_state;

void		xxh64_init(xxh64_state *s, uint64_t seed);
void		xxh64_update(xxh64_state *s, const void *data, size_t len);
uint64_t	xxh64_digest(const xxh64_state *s);
uint64_t	xxh64(const void *data, size_t len, uint64_t seed);

#endif
