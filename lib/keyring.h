/*
 * keyring.h — envelope keys.
 *
 * The master key (KEK, 32 bytes) comes from [crypto] key_file (refused if the
 * group or others can read it) or from the output of [crypto] key_command.
 * Data keys (DEKs) live in the repository as keys/<dek id in hex>, wrapped by
 * the KEK with AES-256-GCM; every object names the DEK that encrypts it. The
 * KEK never leaves this module: no message, log line or argv carries it.
 */
#ifndef PGARK_KEYRING_H
#define PGARK_KEYRING_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "object.h"
#include "store.h"

#define KEK_LEN 32
#define KEK_FPR_LEN 16
#define DEK_OBJECT_LEN 116
#define DEK_MAGIC "PGARKDEK"

typedef struct keyring keyring;

/* Load the KEK named by cfg (cipher none: an empty keyring). */
keyring    *keyring_open(const pgark_config *cfg, store *st, pgark_err *err);
void		keyring_free(keyring *kr);

/* Hex fingerprint of the KEK (33 bytes), safe to show: HMAC-SHA256(KEK, label). */
const char *keyring_kek_fingerprint(keyring *kr);

/* Make a new DEK, store it wrapped as keys/<id>, and return it. */
const obj_dek *keyring_new_dek(keyring *kr, pgark_err *err);

/* Find a DEK by id (loading and unwrapping keys/<id> once). */
const obj_dek *keyring_get_dek(keyring *kr, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err);

/* obj_key_fn adapter: arg is a keyring *. */
const obj_dek *keyring_lookup(void *arg, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err);

/* Read a KEK from a file (the mode check included); exported for key-gen tests. */
int			kek_read_file(const char *path, uint8_t kek[KEK_LEN], pgark_err *err);
/* Run key_command through /bin/sh and read the KEK from its standard output;
 * a command that has not answered within timeout_s seconds is killed. */
int			kek_read_command(const char *command, uint8_t kek[KEK_LEN], pgark_err *err);
int			kek_read_command_timeout(const char *command, int timeout_s, uint8_t kek[KEK_LEN], pgark_err *err);

/* Write a new random key file: mode 0600, O_EXCL (never overwrites), fsync'd. */
int			kek_generate_file(const char *path, pgark_err *err);

/*
 * Master key rotation (key-rotate). keyring_rotate re-wraps every data key
 * keys/<id> under new_kek: first a copy of the object as it is, under
 * keys/<id>.kek-<fingerprint of the key that wraps it>, then keys/<id>
 * replaced by the re-wrapped object. Data is never rewritten. Until
 * keyring_retire removes those copies, the old key still opens everything
 * (keyring_get_dek falls back to the copy wrapped by its own key); once
 * every key is re-wrapped, the new key alone opens everything. Interrupted,
 * it is run again: keys already wrapped by new_kek are skipped. *done and
 * *skipped count the keys re-wrapped now and found re-wrapped already.
 */
int			keyring_rotate(keyring *kr, const uint8_t new_kek[KEK_LEN], int *done, int *skipped,
						   pgark_err *err);
/* Remove the copies wrapped by the master key with fingerprint fpr (32 hex);
 * refused for the configured key, and while any keys/<id> is still wrapped
 * by fpr. *removed counts them. */
int			keyring_retire(keyring *kr, const char *fpr, int *removed, pgark_err *err);
int			kek_fingerprint_hex(const uint8_t kek[KEK_LEN], char out[2 * KEK_FPR_LEN + 1], pgark_err *err);
/* 0 if keys/<id> itself is wrapped by the configured master key (not only a
 * copy kept by a rotation): a new data key wrapped by a key the others have
 * been rotated away from would be lost with it. *count: data keys stored. */
int			keyring_check_current(keyring *kr, const uint8_t id[OBJ_DEK_ID_LEN], int *count, pgark_err *err);
#define DATA_KEYS_MAX 32		/* a process holds every key a backup may need */

/* When the configured master key began wrapping data keys: the oldest store
 * time (mtime) of a keys/<id> it wraps — repo-init or the key-rotate that
 * introduced it wrote them (repo-check's key age). KEY if it wraps none. */
int			keyring_kek_since(keyring *kr, int64_t *since, pgark_err *err);

/* Wrap / unwrap one DEK object (exposed for tests and key rotation). */
int			dek_wrap(const uint8_t kek[KEK_LEN], const obj_dek *dek, int64_t created,
					 uint8_t out[DEK_OBJECT_LEN], pgark_err *err);
int			dek_unwrap(const uint8_t kek[KEK_LEN], const uint8_t *buf, size_t len, obj_dek *dek,
					   pgark_err *err);

#endif
