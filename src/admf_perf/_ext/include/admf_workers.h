/* Native helper threads that stay: work split into parts that run without
   the GIL (IndicatorBank.batch's column ranges) is handed to threads started
   once and kept, instead of threads started and joined per call. Starting
   and joining a thread costs tens to hundreds of microseconds (445 us on a
   loaded 2-core machine), as much as a whole batch of a few hundred bars.

   The threads are plain OS threads (CPython's portable PyThread API, so
   POSIX and Windows alike) with no Python thread state: a part never touches
   a Python object. Each helper waits on its own `go` event and sets its own
   `done` event (below: a flag polled for a while, then a PyThread lock
   slept on, which another thread may release). Idle helpers wait in a list;
   callers take what they need and give them back, so several threads may
   run their own parallel work at once (on a free-threaded build, or with
   the GIL released), each with its own helpers. There is no cap beyond what
   callers ask for at once; a helper that cannot be started (no memory, no
   thread) leaves its part to the caller, which runs it after its own.

   A forked child has none of the parent's threads: admf_workers_after_fork
   (registered with os.register_at_fork by the module) forgets them, and the
   child starts its own when it needs them. The helpers never exit; idle,
   they sleep on a lock (after their spin), and die with the process.

   Usage:
       admf_workers_init();                      (module import, with the GIL)
       k = admf_workers_take(ws, nparts - 1);    (with the GIL: a thread is
                                                  started with it held)
       admf_workers_run(ws, k, fn, ctx, nparts); (without the GIL)
       admf_workers_give(ws, k);                 (the helpers back) */
#ifndef ADMF_WORKERS_H
#define ADMF_WORKERS_H
#include <Python.h>
#include <pythread.h>

typedef void (*admf_part_fn)(void* ctx, Py_ssize_t part);

/* ---- an event: spin a while, then sleep ---------------------------------

   One setter, one waiter, set at most once per wait. The waiter polls the
   flag for ADMF_SPINS pauses (tens of microseconds) before it sleeps on the
   semaphore, so a hand-off between busy threads costs no system call and
   no wake-up (a sleeping thread took 30 us to start its part, as long as a
   small batch). The setter posts the semaphore only when the waiter has
   said it sleeps: the flag and `waiting` are a Dekker pair (sequentially
   consistent), so either the waiter sees the flag or the setter sees
   `waiting`; when both do, the exchange on `waiting` decides who owns the
   post, and the semaphore stays balanced. Without GCC or Clang atomics
   (MSVC), no spinning: every set posts and every wait sleeps. */

#if defined(__GNUC__) || defined(__clang__)
#define ADMF_SPIN_ATOMICS 1
#define ADMF_SPINS (1 << 12)
#if defined(__x86_64__) || defined(__i386__)
#define admf_pause() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define admf_pause() __asm__ __volatile__("yield")
#else
#define admf_pause() ((void)0)
#endif
#else
#define ADMF_SPIN_ATOMICS 0
#endif

typedef struct {
    int flag;                   /* 1: set, not consumed yet */
    int waiting;                /* 1: the waiter sleeps (or is about to) on sem */
    PyThread_type_lock sem;     /* held; released to wake the waiter */
} admf_event;

static int admf_event_init(admf_event* e) {
    e->flag = e->waiting = 0;
    e->sem = PyThread_allocate_lock();
    if (e->sem == NULL)
        return -1;
    PyThread_acquire_lock(e->sem, WAIT_LOCK);
    return 0;
}

static void admf_event_set(admf_event* e) {
#if ADMF_SPIN_ATOMICS
    __atomic_store_n(&e->flag, 1, __ATOMIC_SEQ_CST);
    if (__atomic_exchange_n(&e->waiting, 0, __ATOMIC_SEQ_CST))
        PyThread_release_lock(e->sem);
#else
    PyThread_release_lock(e->sem);
#endif
}

static void admf_event_wait(admf_event* e) {
#if ADMF_SPIN_ATOMICS
    int i;
    for (i = 0; i < ADMF_SPINS; i++) {
        if (__atomic_load_n(&e->flag, __ATOMIC_ACQUIRE))
            goto got;
        admf_pause();
    }
    __atomic_store_n(&e->waiting, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&e->flag, __ATOMIC_SEQ_CST)) {
        if (__atomic_exchange_n(&e->waiting, 0, __ATOMIC_SEQ_CST) == 0)
            PyThread_acquire_lock(e->sem, WAIT_LOCK);      /* the setter posted: take it */
        goto got;
    }
    PyThread_acquire_lock(e->sem, WAIT_LOCK);              /* the setter clears waiting and posts */
got:
    __atomic_store_n(&e->flag, 0, __ATOMIC_RELAXED);       /* consumed (the next set comes after
                                                              this thread's next hand-off) */
#else
    PyThread_acquire_lock(e->sem, WAIT_LOCK);
#endif
}

/* ---- the helpers ---------------------------------------------------------- */

typedef struct admf_worker {
    admf_event go;              /* set to run a part */
    admf_event done;            /* set when the part has ended */
    admf_part_fn fn;
    void* ctx;
    Py_ssize_t part;
    struct admf_worker* next;   /* the idle list */
} admf_worker;

static PyThread_type_lock admf_workers_lock = NULL;    /* guards the idle list */
static admf_worker* admf_workers_idle = NULL;
static Py_ssize_t admf_workers_started = 0;            /* helpers alive (this process) */

static void admf_worker_main(void* arg) {
    admf_worker* w = (admf_worker*)arg;
    for (;;) {
        admf_event_wait(&w->go);
        w->fn(w->ctx, w->part);
        admf_event_set(&w->done);
    }
}

/* 0, or -1 when the list's lock cannot be made (then every part runs on
   the caller). */
static int admf_workers_init(void) {
    if (admf_workers_lock == NULL)
        admf_workers_lock = PyThread_allocate_lock();
    return admf_workers_lock == NULL ? -1 : 0;
}

/* In a forked child: the helpers, and any thread that held the list's
   lock, were the parent's. Their few bytes each are left behind. */
static void admf_workers_after_fork(void) {
    admf_workers_idle = NULL;
    admf_workers_started = 0;
    admf_workers_lock = PyThread_allocate_lock();
}

static admf_worker* admf_worker_new(void) {
    admf_worker* w = (admf_worker*)PyMem_RawCalloc(1, sizeof(admf_worker));
    if (w == NULL)
        return NULL;
    if (admf_event_init(&w->go) < 0 || admf_event_init(&w->done) < 0)
        goto fail;
    if (PyThread_start_new_thread(admf_worker_main, w) == PYTHREAD_INVALID_THREAD_ID)
        goto fail;
    return w;
fail:
    if (w->go.sem != NULL)
        PyThread_free_lock(w->go.sem);
    if (w->done.sem != NULL)
        PyThread_free_lock(w->done.sem);
    PyMem_RawFree(w);
    return NULL;
}

/* Up to k helpers into out, idle ones first, then new ones; how many
   (fewer when no more can be started). With the GIL held. */
static Py_ssize_t admf_workers_take(admf_worker** out, Py_ssize_t k) {
    Py_ssize_t got = 0, made = 0;
    admf_worker* w;
    if (admf_workers_lock == NULL)
        return 0;
    PyThread_acquire_lock(admf_workers_lock, WAIT_LOCK);
    while (got < k && admf_workers_idle != NULL) {
        out[got++] = admf_workers_idle;
        admf_workers_idle = admf_workers_idle->next;
    }
    PyThread_release_lock(admf_workers_lock);
    while (got < k && (w = admf_worker_new()) != NULL) {
        out[got++] = w;
        made++;
    }
    if (made) {
        PyThread_acquire_lock(admf_workers_lock, WAIT_LOCK);
        admf_workers_started += made;
        PyThread_release_lock(admf_workers_lock);
    }
    return got;
}

static void admf_workers_give(admf_worker** ws, Py_ssize_t k) {
    Py_ssize_t i;
    if (k == 0)
        return;
    PyThread_acquire_lock(admf_workers_lock, WAIT_LOCK);
    for (i = 0; i < k; i++) {
        ws[i]->next = admf_workers_idle;
        admf_workers_idle = ws[i];
    }
    PyThread_release_lock(admf_workers_lock);
}

/* fn(ctx, p) for every p in [0, nparts): parts 1..k on the k helpers of
   ws (from admf_workers_take) at once, part 0 and the parts past k on the
   calling thread; returns when all have ended (each helper's done event,
   set after its part and waited for here, orders the part's writes before
   the return). Without the GIL: fn must not fail, take the GIL or
   touch a Python object. */
static void admf_workers_run(admf_worker** ws, Py_ssize_t k, admf_part_fn fn, void* ctx,
                             Py_ssize_t nparts) {
    Py_ssize_t i, p;
    if (k > nparts - 1)
        k = nparts - 1 > 0 ? nparts - 1 : 0;
    for (i = 0; i < k; i++) {
        ws[i]->fn = fn;
        ws[i]->ctx = ctx;
        ws[i]->part = i + 1;
        admf_event_set(&ws[i]->go);
    }
    fn(ctx, 0);
    for (p = k + 1; p < nparts; p++)
        fn(ctx, p);
    for (i = 0; i < k; i++)
        admf_event_wait(&ws[i]->done);
}

/* Helpers alive in this process (for tests and diagnostics). */
static Py_ssize_t admf_workers_count(void) {
    return admf_workers_started;
}

#endif
