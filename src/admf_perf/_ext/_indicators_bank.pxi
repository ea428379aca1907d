# IndicatorBank's engine (included by _indicators.pyx; the API, validation
# and pandas are incremental/bank.py's). One indicator's kernel state per
# symbol, each in a block of one allocation:
#
#     [ kernel struct (sts, rounded up to 8) | outputs (nout doubles) |
#       bars consumed (i64) | ring (nring doubles) ]
#
# (the struct, outputs and count together: a step touches them and one ring
# slot)
#
# A symbol's block holds exactly what an indicator object holds (_stp,
# _ring, _out, _count), so ``get`` and ``put`` copy between the two, and the
# bank steps and runs the blocks with the class's own kernels (BANK_UPDATES, BANK_RUNS:
# the template's tables; the AVX2 runs where a single indicator uses them),
# so every symbol's outputs are the single class's, bit for bit.

cdef enum:
    GATHER = 8                  # batch: symbols whose inputs are gathered together (a cache line)
    GATHER_BYTES = 512 * 1024   # ... while their scratch stays within half an L2 cache


@cython.final
cdef class BankCore:
    """One indicator's state per symbol, stepped (``update``) and run
    (``batch``) without the GIL (see ``IndicatorBank``)."""

    cdef _Indicator proto       # freshly constructed: every symbol's first state
    cdef Py_ssize_t n, block, ring_off, out_off, cnt_off
    cdef BankLayout L
    cdef char* mem
    cdef run_fn run
    cdef bank_update_fn upd
    cdef int nin, nout
    cdef bint skip
    cdef int busy               # a batch runs without the GIL: update, reset, ... refuse

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
        sts8 = (self.proto._sts + 7) & ~(<size_t>7)
        self.out_off = sts8
        self.cnt_off = self.out_off + self.nout * sizeof(double)   # the outputs it has: a block
        # is streamed through once a bar, and a smaller one misses less
        self.ring_off = self.cnt_off + sizeof(i64)
        self.block = self.ring_off + self.proto._nring * sizeof(double)
        self.L.n, self.L.block = n, self.block
        self.L.out_off, self.L.cnt_off, self.L.ring_off = self.out_off, self.cnt_off, self.ring_off
        if n > (<Py_ssize_t>1 << 40) // self.block:
            raise MemoryError(f"IndicatorBank: {n} symbols of {self.block} bytes")
        self.mem = <char*>malloc(n * self.block)
        if self.mem == NULL:
            raise MemoryError()
        self._fresh()

    def __dealloc__(self):
        free(self.mem)

    cdef void _fresh(self) noexcept nogil:
        cdef Py_ssize_t j
        cdef int k
        cdef char* b
        for j in range(self.n):
            b = self.mem + j * self.block
            memcpy(b, self.proto._stp, self.proto._sts)
            memset(b + self.ring_off, 0, self.proto._nring * sizeof(double))
            for k in range(self.nout):
                (<double*>(b + self.out_off))[k] = NAN
            (<i64*>(b + self.cnt_off))[0] = 0

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
        if PyTuple_GET_SIZE(rows) != self.nin:
            return NotImplemented
        for k in range(self.nin):
            row = rows[k]
            if not (cnp.PyArray_CheckExact(row) and _c_doubles(<cnp.ndarray>row)
                    and cnp.PyArray_DIM(<cnp.ndarray>row, 0) == n):
                return NotImplemented
            a[k] = <const double*>cnp.PyArray_DATA(<cnp.ndarray>row)
        if self.nout == 1:
            out = np.empty(n, dtype=np.float64)
        else:
            out = np.empty((n, self.nout), dtype=np.float64)
        o = <double*>cnp.PyArray_DATA(<cnp.ndarray>out)
        self._claim("update")
        try:
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
        split across ``threads`` native threads; all or nothing."""
        cdef Py_ssize_t nb = cnp.PyArray_DIM(<cnp.ndarray>panels[0], 0)
        cdef _BankJob job = _BankJob.__new__(_BankJob)
        cdef Py_ssize_t t, lo, hi, per
        cdef int k
        self._idle("batch")
        job.core = self
        job.nb = nb
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
        results = []
        self._claim("batch")
        try:
            job.saved = <char*>malloc(self.n * self.block)
            if job.saved == NULL:
                raise MemoryError()
            memcpy(job.saved, self.mem, self.n * self.block)
            if threads == 1:
                results.append(job.work(0, self.n))
            else:
                import threading
                per = (self.n + threads - 1) // threads
                workers = []
                for t in range(1, threads):
                    lo = t * per
                    hi = min(self.n, lo + per)
                    if lo < hi:
                        workers.append(threading.Thread(
                            target=lambda lo=lo, hi=hi: results.append(job.work(lo, hi))))
                for w in workers:
                    w.start()
                try:
                    results.append(job.work(0, min(per, self.n)))
                finally:
                    for w in workers:
                        w.join()
            failed = job.stop
            if failed:                                  # all or nothing
                memcpy(self.mem, job.saved, self.n * self.block)
        finally:
            self._release()
            free(job.saved)
            job.saved = NULL
        if failed:
            bad = min((r for r in results if r), default=None)
            if bad is None:                             # a worker had no memory
                raise MemoryError()
            self._not_finite("batch", bad[0], bad[1], bad[2], bad[3])
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
        memcpy(ind._ring, b + self.ring_off, self.proto._nring * sizeof(double))
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
        memcpy(b + self.ring_off, ind._ring, self.proto._nring * sizeof(double))
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
        memcpy(other.mem, self.mem, self.n * self.block)
        return other


@cython.final
cdef class _BankJob:
    """One batch: the panels' and outputs' pointers, the saved states; a
    worker that meets a non-finite input (or no memory) stops every other."""

    cdef BankCore core
    cdef const double* p[4]
    cdef Py_ssize_t s0[4]
    cdef Py_ssize_t s1[4]
    cdef double* out
    cdef char* saved
    cdef Py_ssize_t nb
    cdef volatile int stop

    def work(self, Py_ssize_t lo, Py_ssize_t hi):
        """Columns [lo, hi), without the GIL: None, the first non-finite
        input met as ``(symbol, bar, input, value)``, or False when there
        was no memory for the columns' scratch (``stop`` set in both cases)."""
        cdef Py_ssize_t bad_j = -1, bad_i = -1
        cdef int bad_k = 0, r
        cdef double bad_v = 0.0
        with nogil:
            r = self._columns(lo, hi, &bad_j, &bad_i, &bad_k, &bad_v)
        if r < 0:
            return False
        return None if bad_j < 0 else (bad_j, bad_i, bad_k, bad_v)

    cdef int _columns(self, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t* bad_j, Py_ssize_t* bad_i,
                      int* bad_k, double* bad_v) noexcept nogil:
        cdef Py_ssize_t nb = self.nb, n = self.core.n, block = self.core.block, i, j, m, q
        cdef Py_ssize_t ring_off = self.core.ring_off, out_off = self.core.out_off
        cdef int nin = self.core.nin, nout = self.core.nout, k, miss
        cdef bint skip = self.core.skip
        cdef run_fn run = self.core.run
        cdef char* mem = self.core.mem
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
        cdef double last[3]
        cdef Py_ssize_t* pos
        cdef char* b
        cdef double* po
        # The inputs of G symbols at a time, gathered by rows: a panel in C
        # order holds a bar's symbols side by side, so one cache line serves
        # eight of them (a column at a time would touch a line per value).
        # One symbol at a time where the columns are contiguous, or the
        # group's scratch would outgrow the L2 cache.
        for k in range(nin):
            if self.s0[k] == 1:
                G = 1
        if nin * G * nb * <Py_ssize_t>sizeof(double) > GATHER_BYTES:
            G = 1
        buf = <double*>malloc((nin + nout) * nb * sizeof(double) + nb * sizeof(Py_ssize_t)
                              + nin * G * nb * sizeof(double))
        if buf == NULL:
            self.stop = 1
            return -1
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
                        row = self.p[k] + i * self.s0[k] + jg * self.s1[k]
                        for g in range(gn):
                            gb[(k * G + g) * nb + i] = row[g * self.s1[k]]
            for j in range(jg, jg + gn):
                if self.stop:
                    break                       # another worker failed: the batch is undone
                clean = 1
                for k in range(nin):            # symbol j's inputs: gathered, or in the panels
                    if G > 1:
                        src[k], st[k] = gb + (k * G + (j - jg)) * nb, 1
                    else:
                        src[k], st[k] = self.p[k] + j * self.s1[k], self.s0[k]
                    if st[k] == 1:              # contiguous: the kernel reads it in place
                        run_in[k] = src[k]
                    else:
                        for i in range(nb):
                            cb[k][i] = src[k][i * st[k]]
                        run_in[k] = cb[k]
                    clean = clean and admf_all_finite(run_in[k], nb)
                b = mem + j * block
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
                            elif bad_j[0] < 0:
                                bad_j[0] = j
                                bad_i[0] = i
                                bad_k[0] = k
                                bad_v[0] = v
                    if bad_j[0] >= 0:
                        break
                    if not miss:
                        pos[m] = i
                        m += 1
                if bad_j[0] >= 0:
                    self.stop = 1
                    break
                if not clean:                   # the slow path compacted the present bars into cb
                    for k in range(nin):
                        run_in[k] = cb[k]
                if m:
                    run(b, <double*>(b + ring_off), run_in, o, m)
                if m == nb:
                    for k in range(nout):
                        memcpy(self.out + nb * (j + n * k), o[k], nb * sizeof(double))
                else:
                    for k in range(nout):
                        last[k] = po[k]
                    q = 0
                    for i in range(nb):
                        if q < m and pos[q] == i:
                            for k in range(nout):
                                last[k] = o[k][q]
                            q += 1
                        for k in range(nout):
                            self.out[i + nb * (j + n * k)] = last[k]
                if m:
                    (<i64*>(b + self.core.cnt_off))[0] += m
                    for k in range(nout):
                        po[k] = o[k][m - 1]
            if self.stop:
                break
            jg += gn
        free(buf)
        return 0
