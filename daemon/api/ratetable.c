/* ratetable.c — fixed-size hash table with least-recently-used eviction.
 * Entries live in one array allocated once (never moved); buckets chain them
 * by index, and a doubly linked list by index keeps their order of use.
 * See ratetable.h. */
#include "ratetable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL SIZE_MAX

typedef struct {
    rate_entry e;
    size_t next; /* in its bucket's chain */
    size_t prev_use, next_use;
} slot;

struct ratetable {
    slot *slots;
    size_t *buckets;
    size_t nbuckets; /* a power of two */
    size_t cap, used;
    size_t mru, lru;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

ratetable *ratetable_new(size_t cap)
{
    if (cap < 1)
        cap = 1;
    ratetable *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->nbuckets = 1;
    while (t->nbuckets < cap * 2)
        t->nbuckets <<= 1;
    t->slots = calloc(cap, sizeof(*t->slots));
    t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
    if (!t->slots || !t->buckets) {
        ratetable_free(t);
        return NULL;
    }
    for (size_t i = 0; i < t->nbuckets; i++)
        t->buckets[i] = NIL;
    t->cap = cap;
    t->mru = t->lru = NIL;
    return t;
}

void ratetable_free(ratetable *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->buckets);
    free(t);
}

size_t ratetable_size(const ratetable *t)
{
    return t->used;
}

static size_t find(const ratetable *t, const char *key, size_t b)
{
    for (size_t i = t->buckets[b]; i != NIL; i = t->slots[i].next)
        if (!strcmp(t->slots[i].e.key, key))
            return i;
    return NIL;
}

bool ratetable_has(const ratetable *t, const char *key_in)
{
    char key[RATETABLE_KEY];
    snprintf(key, sizeof(key), "%s", key_in);
    return find(t, key, fnv1a(key) & (t->nbuckets - 1)) != NIL;
}

static void use_unlink(ratetable *t, size_t i)
{
    slot *s = &t->slots[i];
    if (s->prev_use != NIL)
        t->slots[s->prev_use].next_use = s->next_use;
    else
        t->mru = s->next_use;
    if (s->next_use != NIL)
        t->slots[s->next_use].prev_use = s->prev_use;
    else
        t->lru = s->prev_use;
}

static void use_push_front(ratetable *t, size_t i)
{
    slot *s = &t->slots[i];
    s->prev_use = NIL;
    s->next_use = t->mru;
    if (t->mru != NIL)
        t->slots[t->mru].prev_use = i;
    t->mru = i;
    if (t->lru == NIL)
        t->lru = i;
}

static void bucket_unlink(ratetable *t, size_t i)
{
    size_t b = fnv1a(t->slots[i].e.key) & (t->nbuckets - 1);
    size_t *p = &t->buckets[b];
    while (*p != i)
        p = &t->slots[*p].next;
    *p = t->slots[i].next;
}

rate_entry *ratetable_get(ratetable *t, const char *key_in, double burst, int64_t now_ms,
                          bool *created)
{
    char key[RATETABLE_KEY]; /* as stored, so a long key still finds itself */
    snprintf(key, sizeof(key), "%s", key_in);
    size_t b = fnv1a(key) & (t->nbuckets - 1);
    size_t i = find(t, key, b);
    if (i != NIL) {
        use_unlink(t, i);
        use_push_front(t, i);
        if (created)
            *created = false;
        return &t->slots[i].e;
    }
    if (t->used < t->cap) {
        i = t->used++;
    } else {
        i = t->lru; /* full: the caller quiet for longest goes */
        use_unlink(t, i);
        bucket_unlink(t, i);
    }
    slot *s = &t->slots[i];
    memset(&s->e, 0, sizeof(s->e));
    snprintf(s->e.key, sizeof(s->e.key), "%s", key);
    s->e.tokens = burst;
    s->e.last_ms = now_ms;
    s->next = t->buckets[b];
    t->buckets[b] = i;
    use_push_front(t, i);
    if (created)
        *created = true;
    return &s->e;
}
