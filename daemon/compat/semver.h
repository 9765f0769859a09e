/* semver.h — semantic versions and node-semver ranges, for the Piston front's
 * `version` field ("*", "3.x", "3", "^3.10", "~1.2", ">=1 <2 || 4", "1 - 2",
 * exact).
 *
 * Rules are node-semver's (the ones Piston applies with semver.satisfies):
 * X-ranges, tilde, caret (with its 0.x special cases), hyphen ranges,
 * comparators with partial versions, "||" alternatives, a leading "v" or "="
 * tolerated. A prerelease version satisfies a set only when one of its
 * comparators names a prerelease of the same major.minor.patch. Build
 * metadata is ignored. Pure functions, no allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    long major, minor, patch;
    char pre[64]; /* "" for a release */
} semver;

/* Parses a full version ("1.2.3", "v1.2.3-rc.1+b5"). 0 or -EINVAL. */
int semver_parse(const char *s, semver *out);
/* <0, 0, >0 by semver precedence. */
int semver_cmp(const semver *a, const semver *b);
/* 1 when v satisfies range, 0 when not, -EINVAL when range cannot be
 * parsed (node-semver: an invalid range matches nothing). */
int semver_satisfies(const semver *v, const char *range);
/* The first "N[.N[.N]]" in s as a release version, missing parts 0 (like
 * node-semver's coerce): "17.0.15+6" -> 17.0.15, "1.6" -> 1.6.0,
 * "1:2.3-4" -> 1.0.0 is avoided by skipping a Debian epoch "N:". */
int semver_coerce(const char *s, semver *out);
/* "1.2.3" (or "1.2.3-pre") into buf. */
void semver_format(const semver *v, char *buf, size_t len);
