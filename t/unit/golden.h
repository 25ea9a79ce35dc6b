/*
 * golden.h — the fixed inputs of the golden files in t/golden (see its
 * README.md). TEST KEYS: they protect nothing and must never be used for
 * real data. Shared by make_golden.c (which wrote the files once) and
 * test_golden.c (which re-creates the objects from them and compares).
 * Changing any of these is a change of the committed files: don't.
 */
#ifndef PGARK_GOLDEN_H
#define PGARK_GOLDEN_H

/* t/golden/test-master.key holds this, as 64 hex digits and a newline */
#define GOLDEN_KEK_HEX "7465737420746573742074657374206e6f742061207265616c206b6579212121"

/* the data key wrapped in t/golden/dek-v1.bin */
#define GOLDEN_DEK_ID_HEX "60a1de4b0000000000000000676f6c64"
#define GOLDEN_DEK_KEY_HEX "676f6c64656e2064656b3a20746573742064617461206b6579206f6e6c792121"
#define GOLDEN_DEK_CREATED 1795000000	/* 2026-11-18T11:06:40Z, a fixed "created" */

/* the salts the two objects were written with (obj_params.salt) */
#define GOLDEN_SALT_AES_HEX "5a17e0000000000000000000000000000000000000000000000000000000a001"
#define GOLDEN_SALT_NONE_HEX "5a17e0000000000000000000000000000000000000000000000000000000b002"

#define GOLDEN_FRAME_SIZE 1024

#endif
