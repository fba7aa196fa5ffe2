/* Golden-file comparison for unit tests (libvirt qemuxmlconftest style).
 *
 * golden_check() compares `actual` with the file at `path` byte for byte.
 * On a mismatch it prints a diff-like message naming the file (the changed
 * region as "-expected" / "+actual" lines) and returns -1.  With
 * VMADM_GOLDEN_UPDATE=1 in the environment it rewrites the file with
 * `actual` instead, says so on stderr, and returns 0. */
#ifndef VM_TEST_GOLDEN_H
#define VM_TEST_GOLDEN_H

#include <stdbool.h>

bool golden_update_mode(void);
int golden_check(const char *path, const char *actual);
/* Replaces every occurrence of `from` in *s by `to` (*s is reallocated). */
void golden_replace(char **s, const char *from, const char *to);

#endif
