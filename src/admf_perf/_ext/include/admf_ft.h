/* One object's lock on a free-threaded CPython (3.13t and later), through
   the public critical-section API (PyCriticalSection_Begin/End: a per-object
   mutex, suspended while the thread blocks, so two objects' sections cannot
   deadlock and a reentrant call on the same object goes through).  With the
   GIL, nothing at all: no call, no reference taken (the GIL already runs one
   thread at a time), so the hot paths cost what they did before
   (docs/freethreading.md).

   Usage (a region that cannot fail in between, or that ends the section on
   every exit):
       admf_cs cs;
       admf_cs_begin(&cs, obj);
       ... read and write obj's C state ...
       admf_cs_end(&cs);
   A region that may raise ends the section in a try/finally (Cython), kept
   out of the hot function when its exception handling would cost it
   registers.
   ADMF_FT is 1 on a free-threaded build: re-checks that only a concurrent
   thread can make true compile away elsewhere. */
#ifndef ADMF_FT_H
#define ADMF_FT_H
#include <Python.h>

#ifdef Py_GIL_DISABLED
#define ADMF_FT 1
typedef PyCriticalSection admf_cs;
static inline void admf_cs_begin(admf_cs* cs, PyObject* o) { PyCriticalSection_Begin(cs, o); }
static inline void admf_cs_end(admf_cs* cs) { PyCriticalSection_End(cs); }
#else
#define ADMF_FT 0
typedef struct { char unused; } admf_cs;
static inline void admf_cs_begin(admf_cs* cs, PyObject* o) { (void)cs; (void)o; }
static inline void admf_cs_end(admf_cs* cs) { (void)cs; }
#endif

#endif
