# IndicatorBank's engine (included by _indicators.pyx; the API, validation
# and pandas are incremental/bank.py's). One indicator's kernel state per
# symbol, in one allocation of two regions:
#
#     heads: n x [ kernel struct (sts, rounded up to 8) | outputs (nout
#                  doubles) | bars consumed (i64) ]            (``block`` each)
#     rings: n x [ ring (nring doubles) ]                      (``rblock`` each)
#
# A step touches its symbol's head and a slot or two of its ring; a bar
# streams through the heads in order, packed (0.75 of a cache line a symbol
# for a 48-byte head, where a head followed by its ring straddled two lines
# about half the time), and a ring's lines are touched only where a step
# reads them.
#
# A symbol's head and ring hold exactly what an indicator object holds (_stp,
# _ring, _out, _count), so ``get`` and ``put`` copy between the two, and the
# bank steps and runs the symbols with the class's own kernels (BANK_UPDATES, BANK_RUNS:
# the template's tables; the AVX2 build's updates and runs where a single
# indicator's batch uses the AVX2 runs: three-operand code and one
# instruction per fma), so every symbol's outputs are the single class's,
# bit for bit.

# the helper threads of every batch with threads > 1 (include/admf_workers.h)
admf_workers_init()


def _workers_after_fork():
    admf_workers_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_workers_after_fork)


def _helper_threads():
    """How many native helper threads the banks' batches have started in
    this process (kept and reused; none in a fresh fork child)."""
    return admf_workers_count()


cdef enum:
    GATHER = 8                  # batch: symbols whose inputs are gathered together (a cache line)
    GATHER_BYTES = 512 * 1024   # ... while their scratch stays within half an L2 cache


@cython.final
cdef class BankCore:
    """One indicator's state per symbol, stepped (``update``) and run
    (``batch``) without the GIL (see ``IndicatorBank``)."""

    cdef _Indicator proto       # freshly constructed: every symbol's first state
    cdef Py_ssize_t n, block, rblock, size, ring_off, out_off, cnt_off
    cdef BankLayout L
    cdef char* mem
    cdef run_fn run
    cdef bank_update_fn upd
    cdef int nin, nout
    cdef bint skip
    cdef int busy               # a batch runs without the GIL: update, reset, ... refuse
    cdef bint slot_ok           # the class's steps take a ring's stride (the template's SLOT_MAJOR)
    cdef bint slot              # the rings are slot-major now (else a ring per symbol)

    def __cinit__(self, _Indicator proto, Py_ssize_t n, bint skip):
        cdef size_t sts8
        self.mem = NULL
        if proto._source is not None:
            raise TypeError(f"IndicatorBank: {type(proto).__name__} with a source= is not supported "
                            "(bank the source's class, then feed its outputs to a second bank)")
        if n < 1:
            raise ValueError(f"n_symbols must be >= 1, got {n}")
        self.proto = type(proto)(*proto._args)
        self.n = n
        self.skip = skip
        self.nin = proto._nin
        self.nout = proto._nout
        self.run = SIMD[proto._kind] if SIMD != NULL else BANK_RUNS[proto._kind]
        self.upd = BANK_UPDATES[proto._kind]
        if SIMD_BANK != NULL and SIMD_BANK[proto._kind] != NULL:   # the AVX2 build's (NULL: none)
            self.upd = SIMD_BANK[proto._kind]
        sts8 = (self.proto._sts + 7) & ~(<size_t>7)
        self.out_off = sts8
        self.cnt_off = self.out_off + self.nout * sizeof(double)   # the outputs it has: the heads
        # are streamed through once a bar, and a smaller one misses less
        self.block = self.cnt_off + sizeof(i64)
        self.rblock = self.proto._nring * sizeof(double)
        if n > (<Py_ssize_t>1 << 40) // (self.block + self.rblock):
            raise MemoryError(f"IndicatorBank: {n} symbols of {self.block + self.rblock} bytes")
        self.ring_off = n * self.block              # the rings' region
        self.size = n * (self.block + self.rblock)
        self.L.n, self.L.block, self.L.rblock = n, self.block, self.rblock
        self.L.out_off, self.L.cnt_off, self.L.ring_off = self.out_off, self.cnt_off, self.ring_off
        self.L.nring = self.proto._nring
        self.L.jstride, self.L.kstride = self.L.nring, 1
        self.slot_ok = BANK_SLOT_MAJOR[proto._kind] and self.L.nring > 0
        self.slot = False
        self.mem = <char*>malloc(self.size)
        if self.mem == NULL:
            raise MemoryError()
        self._fresh()

    def __dealloc__(self):
        free(self.mem)

    cdef void _fresh(self) noexcept nogil:
        cdef Py_ssize_t j
        cdef int k
        cdef char* b
        memset(self.mem + self.ring_off, 0, self.n * self.rblock)      # in either layout
        for j in range(self.n):
            b = self.mem + j * self.block
            memcpy(b, self.proto._stp, self.proto._sts)
            for k in range(self.nout):
                (<double*>(b + self.out_off))[k] = NAN
            (<i64*>(b + self.cnt_off))[0] = 0

    cdef int _layout(self, bint slot) except -1:
        """The rings slot-major (``update``'s layout where the class's steps
        take a stride: one bar of neighbouring symbols touches neighbouring
        doubles) or a ring per symbol (``batch``'s: each symbol's run reads
        its own); transposed when they are not. A stream of updates after a
        warm-up batch transposes once."""
        cdef Py_ssize_t m = self.L.nring, n = self.n, j, k
        cdef double* r = <double*>(self.mem + self.ring_off)
        cdef double* t
        if slot == self.slot:
            return 0
        t = <double*>malloc(n * m * sizeof(double))
        if t == NULL:
            raise MemoryError()
        with nogil:
            if slot:
                for j in range(n):
                    for k in range(m):
                        t[k * n + j] = r[j * m + k]
            else:
                for k in range(m):
                    for j in range(n):
                        t[j * m + k] = r[k * n + j]
            memcpy(r, t, n * m * sizeof(double))
        free(t)
        self.slot = slot
        if slot:
            self.L.jstride, self.L.kstride = 1, n
        else:
            self.L.jstride, self.L.kstride = m, 1
        return 0

    cdef int _idle(self, str method) except -1:
        if self.busy:
            raise RuntimeError(f"IndicatorBank.{method}: an update or a batch of this bank is running in "
                               "another thread; use one bank per thread")
        return 0

    cdef int _claim(self, str method) except -1:
        """The bank for this thread's update or batch (which run without the
        GIL): RuntimeError if another thread holds it."""
        with cython.critical_section(self):
            self._idle(method)
            self.busy = 1
        return 0

    cdef void _release(self) noexcept:
        with cython.critical_section(self):
            self.busy = 0

    cdef object _not_finite(self, str method, Py_ssize_t j, Py_ssize_t i, int k, double v):
        where = f"symbol {j}" if i < 0 else f"symbol {j}, bar {i}"
        hint = " (a NaN is a missing bar with nan_policy='skip')" if isnan(v) else ""
        raise ValueError(f"IndicatorBank({type(self.proto).__name__}).{method}: {where}: input "
                         f"{self.proto._innames[k]!r} must be finite, got {v!r}{hint}")

    @property
    def n_inputs(self):
        return self.nin

    @property
    def n_outputs(self):
        return self.nout

    def update(self, tuple rows):
        """One bar per symbol: ``rows`` are C-contiguous float64 arrays of
        length n, one per input; a new array of the outputs. NotImplemented
        when a row is not such an array (the caller converts it)."""
        cdef const double* a[4]
        cdef Py_ssize_t bad = -1, n = self.n
        cdef int k, badk = 0
        cdef double* o
        cdef cnp.npy_intp dims[2]
        if PyTuple_GET_SIZE(rows) != self.nin:
            return NotImplemented
        for k in range(self.nin):
            row = rows[k]
            if not (cnp.PyArray_CheckExact(row) and _c_doubles(<cnp.ndarray>row)
                    and cnp.PyArray_DIM(<cnp.ndarray>row, 0) == n):
                return NotImplemented
            a[k] = <const double*>cnp.PyArray_DATA(<cnp.ndarray>row)
        dims[0], dims[1] = n, self.nout      # numpy's C API: no argument parsing a bar
        out = cnp.PyArray_EMPTY(1 if self.nout == 1 else 2, dims, cnp.NPY_FLOAT64, 0)
        o = <double*>cnp.PyArray_DATA(<cnp.ndarray>out)
        self._claim("update")
        try:
            if self.slot_ok:
                self._layout(True)
            self._update_rows(a, o, &bad, &badk)
        finally:
            self._release()
        if bad >= 0:
            self._not_finite("update", bad, -1, badk, a[badk][bad])
        return out

    cdef void _update_rows(self, const double** a, double* o, Py_ssize_t* pbad, int* pbadk) noexcept:
        cdef double v
        cdef Py_ssize_t j, bad = -1, n = self.n
        cdef int k, badk = 0
        cdef bint clean
        with nogil:
            # checks first: an error changes nothing. A vectorized pass per
            # input; only when it finds a NaN or an infinity, the scan that
            # tells which symbol (or that NaNs are skipped bars)
            clean = True
            for k in range(self.nin):
                clean = clean and admf_all_finite(a[k], n)
            for j in range(0 if clean else n):
                for k in range(self.nin):
                    v = a[k][j]
                    if not finite(v) and not (self.skip and isnan(v)):
                        bad = j
                        badk = k
                        break
                if bad >= 0:
                    break
            if bad < 0:
                self.upd(self.mem, &self.L, a, o, self.skip)
        pbad[0] = bad
        pbadk[0] = badk

    def batch(self, list panels, Py_ssize_t threads):
        """``update`` over every bar: ``panels`` are (bars, n) float64 arrays
        (aligned, any strides); the outputs as (bars, n[, outputs]). Columns
        split across ``threads`` native threads (the calling one and helpers
        kept between calls: include/admf_workers.h); all or nothing."""
        cdef Py_ssize_t nb = cnp.PyArray_DIM(<cnp.ndarray>panels[0], 0)
        cdef BankJob job
        cdef admf_worker** ws = NULL
        cdef Py_ssize_t t, k_ws = 0
        cdef BankBad* bad = NULL
        cdef int k
        self._idle("batch")
        memset(&job, 0, sizeof(job))
        job.L = self.L
        job.nb = nb
        job.nin, job.nout, job.skip, job.run, job.mem = self.nin, self.nout, self.skip, self.run, self.mem
        for k in range(self.nin):
            p = <cnp.ndarray>panels[k]
            job.p[k] = <const double*>cnp.PyArray_DATA(p)
            job.s0[k] = cnp.PyArray_STRIDE(p, 0) // <Py_ssize_t>sizeof(double)
            job.s1[k] = cnp.PyArray_STRIDE(p, 1) // <Py_ssize_t>sizeof(double)
        # column-major: each symbol's bars are contiguous where the kernel
        # writes them, and a DataFrame takes the block without a copy
        if self.nout == 1:
            out = np.empty((nb, self.n), dtype=np.float64, order="F")
        else:
            out = np.empty((nb, self.n, self.nout), dtype=np.float64, order="F")
        job.out = <double*>cnp.PyArray_DATA(<cnp.ndarray>out)
        if nb == 0:
            return out
        threads = max(1, min(threads, self.n))
        job.per = (self.n + threads - 1) // threads
        threads = (self.n + job.per - 1) // job.per        # no empty part
        self._claim("batch")
        try:
            self._layout(False)
            job.bad = bad = <BankBad*>calloc(threads, sizeof(BankBad))
            job.saved = <char*>malloc(self.size)        # each part saves its columns
            if job.saved == NULL or bad == NULL:
                raise MemoryError()
            if threads > 1:
                ws = <admf_worker**>malloc((threads - 1) * sizeof(admf_worker*))
                if ws != NULL:
                    k_ws = admf_workers_take(ws, threads - 1)
            with nogil:
                admf_workers_run(ws, k_ws, _bank_part, &job, threads)
            admf_workers_give(ws, k_ws)
            failed = job.stop
            if failed:                                  # all or nothing
                memcpy(self.mem, job.saved, self.size)
                for t in range(threads):                # the first symbol that failed
                    if bad[t].j >= 0:
                        self._not_finite("batch", bad[t].j, bad[t].i, bad[t].k, bad[t].v)
                raise MemoryError()                     # a part had no memory for its scratch
        finally:
            self._release()
            free(job.saved)
            free(bad)
            free(ws)
        return out

    def ready(self):
        """A new bool array: each symbol's first output is not NaN."""
        cdef Py_ssize_t j
        out = np.empty(self.n, dtype=np.bool_)
        cdef cnp.npy_bool* r = <cnp.npy_bool*>cnp.PyArray_DATA(<cnp.ndarray>out)
        for j in range(self.n):
            r[j] = not isnan((<double*>(self.mem + j * self.block + self.out_off))[0])
        return out

    @cython.critical_section
    def get(self, Py_ssize_t j):
        """A new indicator with symbol j's state."""
        cdef char* b = self.mem + j * self.block
        cdef _Indicator ind
        self._idle("get")
        ind = type(self.proto)(*self.proto._args)
        memcpy(ind._stp, b, self.proto._sts)
        bank_ring_out(&self.L, self.mem, j, ind._ring)
        memcpy(ind._out, b + self.out_off, self.nout * sizeof(double))
        ind._count = (<i64*>(b + self.cnt_off))[0]
        return ind

    @cython.critical_section
    def put(self, Py_ssize_t j, _Indicator ind):
        """Symbol j takes ``ind``'s state (the same class and parameters)."""
        cdef char* b = self.mem + j * self.block
        self._idle("put")
        if type(ind) is not type(self.proto) or ind._args != self.proto._args or ind._source is not None:
            raise TypeError(f"IndicatorBank: symbol {j} needs a {self.proto!r}, got {ind!r}")
        memcpy(b, ind._stp, self.proto._sts)
        bank_ring_in(&self.L, self.mem, j, ind._ring)
        memcpy(b + self.out_off, ind._out, self.nout * sizeof(double))
        (<i64*>(b + self.cnt_off))[0] = ind._count

    @cython.critical_section
    def reset(self):
        """Every symbol back to the freshly constructed state."""
        self._idle("reset")
        self._fresh()

    @cython.critical_section
    def copy(self):
        """An independent bank with the same states."""
        self._idle("copy")
        cdef BankCore other = BankCore(self.proto, self.n, self.skip)
        memcpy(other.mem, self.mem, self.size)
        other.slot, other.L = self.slot, self.L
        return other


cdef inline void bank_ring_out(const BankLayout* L, const char* mem, Py_ssize_t j,
                               double* dst) noexcept nogil:
    """Symbol j's ring, as its single indicator keeps it (either layout)."""
    cdef const double* r = <const double*>(mem + L.ring_off) + j * L.jstride
    cdef Py_ssize_t k
    for k in range(L.nring):
        dst[k] = r[k * L.kstride]


cdef inline void bank_ring_in(const BankLayout* L, char* mem, Py_ssize_t j, const double* src) noexcept nogil:
    """Symbol j's ring from a single indicator's."""
    cdef double* r = <double*>(mem + L.ring_off) + j * L.jstride
    cdef Py_ssize_t k
    for k in range(L.nring):
        r[k * L.kstride] = src[k]


cdef struct BankBad:
    Py_ssize_t j, i             # the first non-finite input a part met (j = -1: none)
    int k
    double v


# One batch: the panels' and outputs' pointers, the bank's layout, the saved
# states; a part that meets a non-finite input (or no memory) stops every
# other.
cdef struct BankJob:
    BankLayout L
    const double* p[4]
    Py_ssize_t s0[4]
    Py_ssize_t s1[4]
    double* out
    char* mem
    char* saved
    Py_ssize_t nb, per
    int nin, nout
    bint skip
    run_fn run
    BankBad* bad                # one per part
    volatile int stop           # set by the part that fails; every part checks it


cdef void _bank_part(void* ctx, Py_ssize_t part) noexcept nogil:
    """Part ``part`` of a batch: the columns [part * per, (part + 1) * per),
    their states saved first (always: a failed batch restores them all)."""
    cdef BankJob* job = <BankJob*>ctx
    cdef BankBad* r = &job.bad[part]
    cdef Py_ssize_t lo = part * job.per
    cdef Py_ssize_t hi = min(job.L.n, lo + job.per)
    r.j, r.i, r.k, r.v = -1, -1, 0, 0.0
    cdef Py_ssize_t rings = job.L.ring_off + lo * job.L.rblock
    memcpy(job.saved + lo * job.L.block, job.mem + lo * job.L.block, (hi - lo) * job.L.block)
    memcpy(job.saved + rings, job.mem + rings, (hi - lo) * job.L.rblock)
    _columns(job, lo, hi, r)


cdef void _columns(BankJob* job, Py_ssize_t lo, Py_ssize_t hi, BankBad* bad) noexcept nogil:
    """Columns [lo, hi); the first non-finite input met in ``bad``. ``stop``
    set when one is met, or when there is no memory for their scratch
    (``bad`` left empty: the batch raises MemoryError)."""
    cdef Py_ssize_t nb = job.nb, n = job.L.n, block = job.L.block, i, j, m, q
    cdef Py_ssize_t ring_off = job.L.ring_off, rblock = job.L.rblock, out_off = job.L.out_off
    cdef int nin = job.nin, nout = job.nout, k, miss
    cdef bint skip = job.skip
    cdef run_fn run = job.run
    cdef char* mem = job.mem
    cdef double v
    cdef Py_ssize_t G = GATHER, jg, g, gn
    cdef double* buf
    cdef double* gb
    cdef const double* row
    cdef const double* src[4]
    cdef const double* run_in[4]
    cdef Py_ssize_t st[4]
    cdef double* cb[4]
    cdef bint clean
    cdef double* o[3]
    cdef double* od[3]
    cdef double last[3]
    cdef Py_ssize_t* pos
    cdef char* b
    cdef double* ring
    cdef double* po
    # The inputs of G symbols at a time, gathered by rows: a panel in C
    # order holds a bar's symbols side by side, so one cache line serves
    # eight of them (a column at a time would touch a line per value).
    # One symbol at a time where the columns are contiguous, or the
    # group's scratch would outgrow the L2 cache.
    for k in range(nin):
        if job.s0[k] == 1:
            G = 1
    if nin * G * nb * <Py_ssize_t>sizeof(double) > GATHER_BYTES:
        G = 1
    buf = <double*>malloc((nin + nout) * nb * sizeof(double) + nb * sizeof(Py_ssize_t)
                          + nin * G * nb * sizeof(double))
    if buf == NULL:
        job.stop = 1
        return
    for k in range(nin):
        cb[k] = buf + k * nb
    for k in range(nout):
        o[k] = buf + (nin + k) * nb
    pos = <Py_ssize_t*>(buf + (nin + nout) * nb)
    gb = <double*>(pos + nb)
    jg = lo
    while jg < hi:
        gn = G if jg + G <= hi else hi - jg
        if G > 1:
            for k in range(nin):
                for i in range(nb):
                    row = job.p[k] + i * job.s0[k] + jg * job.s1[k]
                    for g in range(gn):
                        gb[(k * G + g) * nb + i] = row[g * job.s1[k]]
        for j in range(jg, jg + gn):
            if job.stop:
                break                       # another worker failed: the batch is undone
            clean = 1
            for k in range(nin):            # symbol j's inputs: gathered, or in the panels
                if G > 1:
                    src[k], st[k] = gb + (k * G + (j - jg)) * nb, 1
                else:
                    src[k], st[k] = job.p[k] + j * job.s1[k], job.s0[k]
                if st[k] == 1:              # contiguous: the kernel reads it in place
                    run_in[k] = src[k]
                else:
                    for i in range(nb):
                        cb[k][i] = src[k][i * st[k]]
                    run_in[k] = cb[k]
                clean = clean and admf_all_finite(run_in[k], nb)
            b = mem + j * block
            ring = <double*>(mem + ring_off + j * rblock)
            po = <double*>(b + out_off)
            m = 0
            if clean:                       # every bar present and finite (the common case)
                m = nb
            for i in range(nb if not clean else 0):
                miss = 0
                for k in range(nin):
                    v = src[k][i * st[k]]
                    cb[k][m] = v
                    if not finite(v):
                        if skip and isnan(v):
                            miss = 1
                        elif bad.j < 0:
                            bad.j = j
                            bad.i = i
                            bad.k = k
                            bad.v = v
                if bad.j >= 0:
                    break
                if not miss:
                    pos[m] = i
                    m += 1
            if bad.j >= 0:
                job.stop = 1
                break
            if not clean:                   # the slow path compacted the present bars into cb
                for k in range(nin):
                    run_in[k] = cb[k]
            if m == nb:                     # every bar: the kernel writes the output columns
                for k in range(nout):
                    od[k] = job.out + nb * (j + n * k)
                run(b, ring, run_in, od, m)
                for k in range(nout):
                    po[k] = od[k][m - 1]
                (<i64*>(b + job.L.cnt_off))[0] += m
                continue
            if m:
                run(b, ring, run_in, o, m)
            # some bars missing: each output holds its last value over them
            for k in range(nout):
                last[k] = po[k]
            q = 0
            for i in range(nb):
                if q < m and pos[q] == i:
                    for k in range(nout):
                        last[k] = o[k][q]
                    q += 1
                for k in range(nout):
                    job.out[i + nb * (j + n * k)] = last[k]
            if m:
                (<i64*>(b + job.L.cnt_off))[0] += m
                for k in range(nout):
                    po[k] = o[k][m - 1]
        if job.stop:
            break
        jg += gn
    free(buf)
