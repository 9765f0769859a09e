/* semver.c — see semver.h. A range is parsed into comparator sets on the
 * fly: each "||" part is split into words, each word (or "A - B" triple)
 * desugared into at most two primitive comparators and checked at once. */
#include "semver.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A partial version: components set to -1 are wildcards (x, X, * or absent). */
typedef struct {
    long c[3];
    char pre[64];
} partial;

enum op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ };

typedef struct {
    enum op op;
    semver v;
} comparator;

static int parse_num(const char **p, long *out)
{
    const char *s = *p;
    if (*s == 'x' || *s == 'X' || *s == '*') {
        *out = -1;
        *p = s + 1;
        return 0;
    }
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    long n = 0;
    while (isdigit((unsigned char)*s)) {
        if (n > 100000000L)
            return -EINVAL;
        n = n * 10 + (*s - '0');
        s++;
    }
    *out = n;
    *p = s;
    return 0;
}

static bool pre_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '.';
}

/* Parses a partial version from s up to end (exclusive). */
static int parse_partial(const char *s, const char *end, partial *out)
{
    memset(out, 0, sizeof(*out));
    out->c[0] = out->c[1] = out->c[2] = -1;
    if (s < end && (*s == 'v' || *s == 'V' || *s == '='))
        s++;
    if (s == end)
        return 0; /* "" is "*" */
    for (int i = 0; i < 3; i++) {
        if (parse_num(&s, &out->c[i]) < 0 || s > end)
            return -EINVAL;
        if (s == end || *s != '.')
            break;
        if (i == 2)
            return -EINVAL;
        s++;
    }
    if (s < end && *s == '-') {
        s++;
        size_t n = 0;
        while (s < end && *s != '+' && pre_char(*s)) {
            if (n + 1 >= sizeof(out->pre))
                return -EINVAL;
            out->pre[n++] = *s++;
        }
        out->pre[n] = '\0';
        if (!n)
            return -EINVAL;
    }
    if (s < end && *s == '+') {
        s++;
        while (s < end && pre_char(*s))
            s++;
    }
    return s == end ? 0 : -EINVAL;
}

int semver_parse(const char *s, semver *out)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    partial p;
    if (parse_partial(s, s + n, &p) < 0 || p.c[0] < 0 || p.c[1] < 0 || p.c[2] < 0)
        return -EINVAL;
    out->major = p.c[0];
    out->minor = p.c[1];
    out->patch = p.c[2];
    memcpy(out->pre, p.pre, sizeof(out->pre));
    return 0;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return n > 0;
}

static int cmp_pre(const char *a, const char *b)
{
    if (!*a || !*b) /* a release ranks above any prerelease */
        return !*a && !*b ? 0 : (!*a ? 1 : -1);
    while (*a || *b) {
        if (!*a)
            return -1;
        if (!*b)
            return 1;
        size_t na = strcspn(a, "."), nb = strcspn(b, ".");
        bool da = all_digits(a, na), db = all_digits(b, nb);
        int r;
        if (da && db)
            r = na != nb ? (na < nb ? -1 : 1) : strncmp(a, b, na);
        else if (da || db)
            r = da ? -1 : 1;
        else {
            r = strncmp(a, b, na < nb ? na : nb);
            if (!r && na != nb)
                r = na < nb ? -1 : 1;
        }
        if (r)
            return r < 0 ? -1 : 1;
        a += na + (a[na] == '.');
        b += nb + (b[nb] == '.');
    }
    return 0;
}

int semver_cmp(const semver *a, const semver *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch)
        return a->patch < b->patch ? -1 : 1;
    return cmp_pre(a->pre, b->pre);
}

static semver sv(long ma, long mi, long pa, const char *pre)
{
    semver v = {ma, mi, pa, ""};
    snprintf(v.pre, sizeof(v.pre), "%s", pre ? pre : "");
    return v;
}

/* The lower bound of a partial: wildcards become 0. */
static semver low(const partial *p)
{
    return sv(p->c[0] < 0 ? 0 : p->c[0], p->c[1] < 0 ? 0 : p->c[1], p->c[2] < 0 ? 0 : p->c[2],
              p->pre);
}

/* ---- one comparator set ---- */

typedef struct {
    comparator c[64];
    size_t n;
    bool never; /* "<0.0.0"-like: nothing matches */
} cset;

static int add(cset *s, enum op op, semver v)
{
    if (s->n >= sizeof(s->c) / sizeof(*s->c))
        return -EINVAL;
    s->c[s->n].op = op;
    s->c[s->n].v = v;
    s->n++;
    return 0;
}

static int add2(cset *s, enum op o1, semver v1, enum op o2, semver v2)
{
    int r = add(s, o1, v1);
    return r < 0 ? r : add(s, o2, v2);
}

/* Desugars "op partial" into s. op is one of "", "=", "<", "<=", ">", ">=",
 * "~", "^". */
static int add_word(cset *s, const char *op, const partial *p)
{
    long M = p->c[0], m = p->c[1], pt = p->c[2];
    bool xM = M < 0, xm = m < 0, xp = pt < 0;
    if (!strcmp(op, "~") || !strcmp(op, "~>")) {
        if (xM)
            return 0;
        if (xm)
            return add2(s, OP_GE, sv(M, 0, 0, NULL), OP_LT, sv(M + 1, 0, 0, "0"));
        return add2(s, OP_GE, low(p), OP_LT, sv(M, m + 1, 0, "0"));
    }
    if (!strcmp(op, "^")) {
        if (xM)
            return 0;
        if (xm)
            return add2(s, OP_GE, sv(M, 0, 0, NULL), OP_LT, sv(M + 1, 0, 0, "0"));
        if (xp) {
            if (M == 0)
                return add2(s, OP_GE, sv(0, m, 0, NULL), OP_LT, sv(0, m + 1, 0, "0"));
            return add2(s, OP_GE, sv(M, m, 0, NULL), OP_LT, sv(M + 1, 0, 0, "0"));
        }
        semver hi = M ? sv(M + 1, 0, 0, "0") : m ? sv(0, m + 1, 0, "0") : sv(0, 0, pt + 1, "0");
        return add2(s, OP_GE, low(p), OP_LT, hi);
    }
    if (!*op || !strcmp(op, "=")) {
        if (xM)
            return 0; /* "*": anything */
        if (xm)
            return add2(s, OP_GE, sv(M, 0, 0, NULL), OP_LT, sv(M + 1, 0, 0, "0"));
        if (xp)
            return add2(s, OP_GE, sv(M, m, 0, NULL), OP_LT, sv(M, m + 1, 0, "0"));
        return add(s, OP_EQ, low(p));
    }
    bool partial_v = xM || xm || xp;
    if (!strcmp(op, ">")) {
        if (xM) {
            s->never = true;
            return 0;
        }
        if (!partial_v)
            return add(s, OP_GT, low(p));
        return add(s, OP_GE, xm ? sv(M + 1, 0, 0, NULL) : sv(M, m + 1, 0, NULL));
    }
    if (!strcmp(op, ">=")) {
        return xM ? 0 : add(s, OP_GE, low(p));
    }
    if (!strcmp(op, "<")) {
        if (xM) {
            s->never = true;
            return 0;
        }
        return add(s, OP_LT, partial_v ? sv(M, xm ? 0 : m, 0, "0") : low(p));
    }
    if (!strcmp(op, "<=")) {
        if (xM)
            return 0;
        if (!partial_v)
            return add(s, OP_LE, low(p));
        return add(s, OP_LT, xm ? sv(M + 1, 0, 0, "0") : sv(M, m + 1, 0, "0"));
    }
    return -EINVAL;
}

/* The upper end of a hyphen range "A - B". */
static int add_hyphen_high(cset *s, const partial *p)
{
    if (p->c[0] < 0)
        return 0;
    if (p->c[1] < 0)
        return add(s, OP_LT, sv(p->c[0] + 1, 0, 0, "0"));
    if (p->c[2] < 0)
        return add(s, OP_LT, sv(p->c[0], p->c[1] + 1, 0, "0"));
    return add(s, OP_LE, low(p));
}

static bool test_one(const comparator *c, const semver *v)
{
    int r = semver_cmp(v, &c->v);
    switch (c->op) {
    case OP_LT:
        return r < 0;
    case OP_LE:
        return r <= 0;
    case OP_GT:
        return r > 0;
    case OP_GE:
        return r >= 0;
    case OP_EQ:
        return r == 0;
    }
    return false;
}

static bool set_matches(const cset *s, const semver *v)
{
    if (s->never)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (!test_one(&s->c[i], v))
            return false;
    if (!v->pre[0])
        return true;
    /* a prerelease only matches a comparator naming one of the same tuple */
    for (size_t i = 0; i < s->n; i++) {
        const semver *a = &s->c[i].v;
        if (a->pre[0] && a->major == v->major && a->minor == v->minor && a->patch == v->patch)
            return true;
    }
    return false;
}

/* Splits off the operator of a word: "<=1.2" -> "<=", "1.2". */
static size_t op_len(const char *w, size_t n)
{
    if (n >= 2 && (!strncmp(w, "<=", 2) || !strncmp(w, ">=", 2) || !strncmp(w, "~>", 2)))
        return 2;
    if (n >= 1 && strchr("<>=~^", w[0]))
        return 1;
    return 0;
}

/* Parses one "||" part [s, end) into set. */
static int parse_set(const char *s, const char *end, cset *set)
{
    memset(set, 0, sizeof(*set));
    const char *words[64];
    size_t lens[64], nw = 0;
    while (s < end) {
        while (s < end && isspace((unsigned char)*s))
            s++;
        if (s == end)
            break;
        const char *w = s;
        /* an operator may be followed by spaces: ">= 1.2" */
        size_t ol = op_len(w, (size_t)(end - w));
        s += ol;
        while (ol && s < end && isspace((unsigned char)*s))
            s++;
        while (s < end && !isspace((unsigned char)*s))
            s++;
        if (nw >= sizeof(words) / sizeof(*words))
            return -EINVAL;
        words[nw] = w;
        lens[nw++] = (size_t)(s - w);
    }
    for (size_t i = 0; i < nw; i++) {
        if (i + 2 < nw && lens[i + 1] == 1 && words[i + 1][0] == '-') {
            partial a, b;
            if (parse_partial(words[i], words[i] + lens[i], &a) < 0 ||
                parse_partial(words[i + 2], words[i + 2] + lens[i + 2], &b) < 0)
                return -EINVAL;
            int r = a.c[0] < 0 ? 0 : add(set, OP_GE, low(&a));
            if (r >= 0)
                r = add_hyphen_high(set, &b);
            if (r < 0)
                return r;
            i += 2;
            continue;
        }
        size_t ol = op_len(words[i], lens[i]);
        char op[3] = "";
        memcpy(op, words[i], ol);
        const char *v = words[i] + ol;
        while (isspace((unsigned char)*v))
            v++;
        partial p;
        if (parse_partial(v, words[i] + lens[i], &p) < 0)
            return -EINVAL;
        int r = add_word(set, op, &p);
        if (r < 0)
            return r;
    }
    return 0;
}

int semver_satisfies(const semver *v, const char *range)
{
    const char *s = range;
    bool any = false;
    for (;;) {
        const char *bar = strstr(s, "||");
        const char *end = bar ? bar : s + strlen(s);
        cset set;
        int r = parse_set(s, end, &set);
        if (r < 0)
            return r;
        if (set_matches(&set, v))
            any = true;
        if (!bar)
            break;
        s = bar + 2;
    }
    return any ? 1 : 0;
}

int semver_coerce(const char *s, semver *out)
{
    const char *colon = strchr(s, ':');
    if (colon && colon > s && all_digits(s, (size_t)(colon - s)))
        s = colon + 1;
    while (*s && !isdigit((unsigned char)*s))
        s++;
    if (!*s)
        return -EINVAL;
    long c[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (parse_num(&s, &c[i]) < 0)
            return -EINVAL;
        if (*s != '.' || !isdigit((unsigned char)s[1]))
            break;
        s++;
    }
    *out = sv(c[0], c[1], c[2], NULL);
    return 0;
}

void semver_format(const semver *v, char *buf, size_t len)
{
    snprintf(buf, len, "%ld.%ld.%ld%s%s", v->major, v->minor, v->patch, v->pre[0] ? "-" : "",
             v->pre);
}
