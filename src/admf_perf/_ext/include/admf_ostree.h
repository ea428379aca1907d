/* An order-statistics tree over doubles: a treap (a binary search tree kept
 * balanced in expectation by random priorities) whose nodes also hold the
 * size and the sum of their subtree.  O(log n) expected per insert, per
 * k-th smallest value and per sum of the k smallest values.
 *
 * _risk.pyx: RiskCore's sorted returns (value at risk, conditional value at
 * risk, tail ratio).  The nodes live in one array; node 0 is the empty
 * tree (size 0, sum 0), so children need no NULL test.  Values are only
 * ever added, and all are dropped at once (admf_ost_free).
 */
#ifndef ADMF_OSTREE_H
#define ADMF_OSTREE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double key;
    double sum;           /* of the subtree's keys */
    int32_t left;
    int32_t right;
    int32_t size;         /* of the subtree */
    uint32_t prio;
} admf_ost_node;          /* 32 bytes: a node's fields share a cache line */

typedef struct {
    admf_ost_node* node;  /* node 0 is the empty tree */
    int32_t root;
    int32_t used;         /* nodes 1..used hold values */
    int32_t cap;          /* nodes 0..cap allocated */
    uint64_t rng;
} admf_ost;

static inline void admf_ost_init(admf_ost* t)
{
    memset(t, 0, sizeof *t);
    t->rng = 0x9E3779B97F4A7C15ULL;
}

static inline void admf_ost_free(admf_ost* t)
{
    free(t->node);
    admf_ost_init(t);
}

/* Room for ``n`` values; 0, or -1 when out of memory (the tree is unchanged). */
static int admf_ost_reserve(admf_ost* t, int64_t n)
{
    int64_t cap = t->cap ? t->cap : 64;
    admf_ost_node* p;
    if (n <= t->cap) return 0;
    if (n >= INT32_MAX) return -1;
    while (cap < n) cap *= 2;
    if (cap >= INT32_MAX) cap = INT32_MAX - 1;
    p = (admf_ost_node*)realloc(t->node, ((size_t)cap + 1) * sizeof(admf_ost_node));
    if (!p) return -1;
    if (t->cap == 0) memset(p, 0, sizeof *p);     /* node 0: the empty tree */
    t->node = p;
    t->cap = (int32_t)cap;
    return 0;
}

static inline void admf_ost_pull(admf_ost* t, int32_t x)
{
    admf_ost_node* v = t->node;
    int32_t l = v[x].left, r = v[x].right;
    v[x].size = 1 + v[l].size + v[r].size;
    v[x].sum = v[l].sum + v[x].key + v[r].sum;
}

/* Split subtree ``x`` into the keys <= ``k`` (*a) and the others (*b).
 * Equal keys are ordered by insertion (a new one goes after them: right in
 * the descent, left in the split), so the order of the values does not
 * depend on the priorities and the depth stays O(log n) in expectation
 * however many values are equal (a feed's many zero returns). */
static void admf_ost_split(admf_ost* t, int32_t x, double k, int32_t* a, int32_t* b)
{
    if (!x) { *a = *b = 0; return; }
    if (t->node[x].key <= k) {
        admf_ost_split(t, t->node[x].right, k, &t->node[x].right, b);
        *a = x;
    } else {
        admf_ost_split(t, t->node[x].left, k, a, &t->node[x].left);
        *b = x;
    }
    admf_ost_pull(t, x);
}

static int32_t admf_ost_insert_at(admf_ost* t, int32_t x, int32_t node)
{
    if (!x) return node;
    if (t->node[node].prio > t->node[x].prio) {
        admf_ost_split(t, x, t->node[node].key, &t->node[node].left, &t->node[node].right);
        admf_ost_pull(t, node);
        return node;
    }
    if (t->node[node].key < t->node[x].key) t->node[x].left = admf_ost_insert_at(t, t->node[x].left, node);
    else t->node[x].right = admf_ost_insert_at(t, t->node[x].right, node);
    admf_ost_pull(t, x);
    return x;
}

/* Add ``v`` (not NaN); the caller reserved room for it. */
static inline void admf_ost_insert(admf_ost* t, double v)
{
    int32_t node = ++t->used;
    t->rng ^= t->rng << 13; t->rng ^= t->rng >> 7; t->rng ^= t->rng << 17;   /* xorshift64 */
    t->node[node].key = t->node[node].sum = v;
    t->node[node].left = t->node[node].right = 0;
    t->node[node].size = 1;
    t->node[node].prio = (uint32_t)(t->rng >> 32);
    t->root = admf_ost_insert_at(t, t->root, node);
}

/* The ``k``-th smallest value (0-based, 0 <= k < used). */
static inline double admf_ost_kth(const admf_ost* t, int64_t k)
{
    int32_t x = t->root;
    for (;;) {
        int32_t s = t->node[t->node[x].left].size;
        if (k < s) x = t->node[x].left;
        else if (k == s) return t->node[x].key;
        else { k -= s + 1; x = t->node[x].right; }
    }
}

/* The sum of the ``m`` smallest values (0 <= m <= used). */
static inline double admf_ost_smallest_sum(const admf_ost* t, int64_t m)
{
    double acc = 0.0;
    int32_t x = t->root;
    while (m > 0 && x) {
        int32_t s = t->node[t->node[x].left].size;
        if (m <= s) x = t->node[x].left;
        else {
            acc += t->node[t->node[x].left].sum + t->node[x].key;
            m -= s + 1;
            x = t->node[x].right;
        }
    }
    return acc;
}

/* numpy's percentile (method "linear") of the values at fraction ``q`` of
 * the way (0 <= q <= 1): the value at the virtual index q * (n - 1),
 * interpolated as numpy's _lerp does it. */
static inline double admf_ost_quantile(const admf_ost* t, double q)
{
    int64_t n = t->used, i;
    double vi = (double)(n - 1) * q, g, a, b, d;
    if (vi >= (double)(n - 1)) return admf_ost_kth(t, n - 1);
    if (vi < 0.0) return admf_ost_kth(t, 0);
    i = (int64_t)vi;                 /* floor: vi >= 0 */
    g = vi - (double)i;
    a = admf_ost_kth(t, i);
    b = admf_ost_kth(t, i + 1);
    d = b - a;
    return g >= 0.5 ? b - d * (1.0 - g) : a + d * g;
}

#endif /* ADMF_OSTREE_H */
