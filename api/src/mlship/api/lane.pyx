# cython: language_level=3, cdivision=True
# cython: auto_pickle=False, embedsignature=True
"""The compiled lane: one-row predictions and ``POST /predict``'s accept path in C.

Measured under load on loopback, every Python line in the request path costs
the server more than its arithmetic: the leanest Python handler for /predict
cost twice the CPU time per request of a bare ASGI endpoint. This module does
the same work in C:

``RowKernel``
    One model version's single-row prediction with its model metrics, the work
    of ``ServedModel.infer_one`` (``served.py``), from folded weights and in the
    same order of operations as ``fastpath.LinearPipeline.proba_row``; for any
    other model it calls the version's own row function and records the
    metrics itself.
``PredictLane``
    ``POST /predict`` for the common case only: an open service (no keys, no
    rate limit), ``Content-Type: application/json``, a body in one message that
    is ``{"features": [numbers]}`` or the named features with finite values.
    Anything else (a refusal, an error, a body in parts, a cross-origin call)
    goes to ``fallback``, the Python lane, with the body it has read replayed:
    the Python lane owns every error message, so answers never differ between
    the lanes, only their cost.

The metrics are updated in the same plain-list mirrors as the Python code
(``tally.py``), so ``flush`` and ``/metrics`` do not know which lane counted.
Everything here runs on the event loop's thread, as the Python lane does.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsDouble
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.math cimport exp, isfinite
from libc.stdint cimport uint64_t

import os

import orjson


cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clock, timespec* now)
    int CLOCK_MONOTONIC

cdef extern from *:
    """
    #ifndef MLSHIP_LANE_SOURCE
    #define MLSHIP_LANE_SOURCE ""
    #endif
    """
    const char* MLSHIP_LANE_SOURCE

# The SHA-256 of the lane.pyx this module was built from (api/setup.py).
SOURCE_SHA256 = MLSHIP_LANE_SOURCE.decode("ascii")

cdef enum:
    # Rows wider than this are left to the Python lane (scratch space lives on the stack).
    MAX_VALUES = 256
    MAX_REQUEST_ID = 128

MAX_FEATURES = MAX_VALUES
cdef const char* HEX_DIGITS = b"0123456789abcdef"
# The request headers the lane reads.
READ_HEADERS = frozenset(
    {b"content-type", b"content-length", b"x-request-id", b"x-api-key", b"authorization"}
)


cdef inline double monotonic() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return <double>now.tv_sec + <double>now.tv_nsec * 1e-9


cdef inline Py_ssize_t bisect_left(const double* bounds, Py_ssize_t count, double value) noexcept nogil:
    """``bisect.bisect_left``: the first index whose bound is not below ``value``."""
    cdef Py_ssize_t low = 0, high = count, middle
    while low < high:
        middle = (low + high) >> 1
        if bounds[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


cdef class Doubles:
    """A list of floats copied once into C memory."""

    cdef double* values
    cdef Py_ssize_t count

    def __cinit__(self, values):
        self.count = len(values)
        self.values = <double*>PyMem_Malloc(max(self.count, 1) * sizeof(double))
        if self.values == NULL:
            raise MemoryError()
        for index, value in enumerate(values):
            self.values[index] = value

    def __dealloc__(self):
        PyMem_Free(self.values)


cdef inline void observe(list slots, Doubles bounds, double value):
    """``tally.observe``: count ``value`` in its bucket and add it to the sum (last slot)."""
    cdef Py_ssize_t bucket = bisect_left(bounds.values, bounds.count, value)
    slots[bucket] = slots[bucket] + 1
    slots[-1] = slots[-1] + value


cdef class RowKernel:
    """One model version's single-row prediction, recording its model metrics."""

    cdef readonly Py_ssize_t n_features, n_classes
    cdef readonly bint compiled
    cdef tuple features
    cdef bint features_is_a_feature  # then {"features": ..} is a named row, as in parse_single
    cdef Doubles weights  # class-major, scaling folded in (LinearPipeline.row_scores)
    cdef Doubles biases
    cdef object predict_row
    cdef list predicted, confidence, inference, quantile_slots, quantile_bounds
    cdef Doubles confidence_bounds, inference_bounds
    cdef Py_ssize_t[MAX_VALUES] quantile_columns
    cdef Py_ssize_t n_quantiles
    cdef tuple class_names
    cdef object model_name, model_version

    def __init__(self, row_scores, predict_row, features, class_names,
                 model_name, model_version, list predicted, list confidence,
                 confidence_bounds, list inference, inference_bounds, quantiles):
        """``row_scores`` as ``LinearPipeline.row_scores`` (or None: ``predict_row`` is used).

        The metric arguments are the mirror lists of ``ServedModel``: one
        counter slot per class, the confidence and inference histograms with
        their upper bounds, and ``quantiles`` as (column, deciles, slots).
        """
        self.features = tuple(features)
        self.n_features = len(self.features)
        if self.n_features > MAX_VALUES:
            raise ValueError(f"rows of more than {MAX_VALUES} features are left to Python")
        self.features_is_a_feature = "features" in self.features
        self.class_names = tuple(class_names)
        self.n_classes = len(self.class_names)
        self.predict_row = predict_row
        self.compiled = row_scores is not None
        if self.compiled:
            self.weights = Doubles([weight for weights, _ in row_scores for weight in weights])
            self.biases = Doubles([bias for _, bias in row_scores])
            if self.weights.count != self.biases.count * self.n_features:
                raise ValueError("row_scores do not match the number of features")
            if (2 if self.biases.count == 1 else self.biases.count) != self.n_classes:
                raise ValueError("row_scores do not match the number of classes")
        self.model_name, self.model_version = model_name, model_version
        self.predicted = [slots for slots in predicted]
        if len(self.predicted) != self.n_classes:
            raise ValueError("one prediction counter per class is needed")
        self.confidence, self.confidence_bounds = confidence, Doubles(confidence_bounds)
        self.inference, self.inference_bounds = inference, Doubles(inference_bounds)
        self.quantile_slots, self.quantile_bounds = [], []
        self.n_quantiles = 0
        for column, deciles, slots in quantiles:
            if not 0 <= column < self.n_features or self.n_quantiles >= MAX_VALUES:
                raise ValueError(f"quantile column {column} is out of range")
            self.quantile_columns[self.n_quantiles] = column
            self.quantile_bounds.append(Doubles(deciles))
            self.quantile_slots.append(slots)
            self.n_quantiles += 1

    cdef int scores(self, const double* row, double* probabilities) except -1:
        """Class probabilities of ``row`` (no metrics)."""
        cdef Py_ssize_t klass, feature, count = self.biases.count if self.compiled else 0
        cdef double total, top, positive, exponential
        cdef double* weights
        if not self.compiled:
            values = self.predict_row([row[feature] for feature in range(self.n_features)])
            if len(values) != self.n_classes:
                raise ValueError(f"predict_row gave {len(values)} probabilities")
            for klass in range(self.n_classes):
                probabilities[klass] = values[klass]
            return 0
        # proba_row's order of operations: bias + sum(w * x), then the softmax or sigmoid.
        for klass in range(count):
            weights = self.weights.values + klass * self.n_features
            total = 0.0
            for feature in range(self.n_features):
                total += weights[feature] * row[feature]
            probabilities[klass] = self.biases.values[klass] + total
        if count == 1:  # a binary model: one score, the positive class
            if probabilities[0] >= 0:
                positive = 1.0 / (1.0 + exp(-probabilities[0]))
            else:
                exponential = exp(probabilities[0])
                positive = exponential / (1.0 + exponential)
            probabilities[0], probabilities[1] = 1.0 - positive, positive
            return 0
        top = probabilities[0]
        for klass in range(1, count):
            if probabilities[klass] > top:
                top = probabilities[klass]
        total = 0.0
        for klass in range(count):
            probabilities[klass] = exp(probabilities[klass] - top)
            total += probabilities[klass]
        for klass in range(count):
            probabilities[klass] = probabilities[klass] / total
        return 0

    cdef Py_ssize_t infer(self, const double* row, double* probabilities) except -1:
        """The predicted class of ``row``; records the model metrics as ``infer_one`` does."""
        cdef double started = monotonic()
        self.scores(row, probabilities)
        observe(self.inference, self.inference_bounds, monotonic() - started)
        cdef Py_ssize_t klass, best = 0, index, position
        for klass in range(1, self.n_classes):
            if probabilities[klass] > probabilities[best]:  # the first maximum, as argmax
                best = klass
        counter = <list>self.predicted[best]
        counter[0] = counter[0] + 1
        observe(self.confidence, self.confidence_bounds, probabilities[best])
        cdef Doubles deciles
        for index in range(self.n_quantiles):
            deciles = <Doubles>self.quantile_bounds[index]
            position = bisect_left(
                deciles.values, deciles.count, row[self.quantile_columns[index]]
            )
            slots = <list>self.quantile_slots[index]
            slots[position] = slots[position] + 1  # position/10 + 0.05 lies in bucket `position`
            slots[-1] = slots[-1] + (position / 10.0 + 0.05)
        return best

    def probabilities(self, row):
        """The class probabilities of one row of floats, without metrics (for verification)."""
        cdef double[MAX_VALUES] values, probabilities
        self._load(row, values)
        self.scores(values, probabilities)
        return [probabilities[klass] for klass in range(self.n_classes)]

    def infer_one(self, row):
        """``ServedModel.infer_one``: (class index, probabilities) of a validated row."""
        cdef double[MAX_VALUES] values, probabilities
        self._load(row, values)
        best = self.infer(values, probabilities)
        return best, [probabilities[klass] for klass in range(self.n_classes)]

    cdef int _load(self, row, double* values) except -1:
        if len(row) != self.n_features:
            raise ValueError(f"expected {self.n_features} values, got {len(row)}")
        for index, value in enumerate(row):
            values[index] = value
        return 0

    cdef bytes answer(self, const double* row):
        """/predict's JSON answer for ``row``, metrics recorded (the fields of routes.predict)."""
        cdef double[MAX_VALUES] probabilities
        cdef Py_ssize_t best = self.infer(row, probabilities), klass
        names = self.class_names
        by_class = {}
        for klass in range(self.n_classes):
            by_class[names[klass]] = probabilities[klass]
        return orjson.dumps({
            "class_index": best,
            "class_name": names[best],
            "probabilities": by_class,
            "model_name": self.model_name,
            "model_version": self.model_version,
        })


cdef inline bint as_finite(object value, double* number):
    """``value`` as a finite float when it is an int or float (not bool), else False."""
    cdef type kind = type(value)
    if kind is float:
        number[0] = PyFloat_AS_DOUBLE(value)
    elif kind is int:
        try:
            number[0] = PyLong_AsDouble(value)
        except OverflowError:  # the Python lane names it
            return False
    else:
        return False
    return isfinite(number[0])


cdef bint read_row(object payload, tuple features, bint features_is_a_feature, double* row):
    """Fill ``row`` from ``{"features": [..] or {..}}`` or named features; False to defer."""
    cdef Py_ssize_t index, count = len(features)
    if type(payload) is not dict:
        return False
    mapping = <dict>payload
    values = None if features_is_a_feature else mapping.get("features")
    if values is not None:
        if len(mapping) != 1:
            return False
        if type(values) is list:
            if len(<list>values) != count:
                return False
            for index in range(count):
                if not as_finite((<list>values)[index], &row[index]):
                    return False
            return True
        if type(values) is not dict:
            return False
        mapping = <dict>values
    if len(mapping) != count:  # with every feature present, no unknown name is left
        return False
    for index in range(count):
        value = mapping.get(features[index])
        if value is None or not as_finite(value, &row[index]):
            return False
    return True


cdef bint safe_request_id(bytes value):
    """``middleware.SAFE_REQUEST_ID``: 1 to 128 of ``A-Z a-z 0-9 . _ : -``."""
    cdef Py_ssize_t index, size = PyBytes_GET_SIZE(value)
    cdef const char* text = PyBytes_AS_STRING(value)
    cdef char byte
    if size < 1 or size > MAX_REQUEST_ID:
        return False
    for index in range(size):
        byte = text[index]
        if not (b"A" <= byte <= b"Z" or b"a" <= byte <= b"z" or b"0" <= byte <= b"9"
                or byte == b"." or byte == b"_" or byte == b":" or byte == b"-"):
            return False
    return True


cdef class Replay:
    """A ``receive`` that first hands back the message the compiled lane already read."""

    cdef object message, receive

    def __init__(self, message, receive):
        self.message, self.receive = message, receive

    async def __call__(self):
        if self.message is not None:
            message, self.message = self.message, None
            return message
        return await self.receive()


cdef class PredictLane:
    """``POST /predict``'s accept path in C in front of ``app``, which serves everything else.

    As the outermost ASGI app (what uvicorn calls) it saves the Python frames
    between the server and the lane; other requests, lifespan included, go to
    ``app`` unchanged.
    """

    cdef object app, fallback, manager, metrics, access_logger, keys
    cdef str path
    cdef list headers, requests, failures, duration
    cdef Doubles duration_bounds
    cdef Py_ssize_t max_body_bytes
    cdef bint cors
    cdef uint64_t state

    def __init__(self, app, path, fallback, manager, metrics, headers, requests, failures,
                 duration, duration_bounds, Py_ssize_t max_body_bytes, bint cors, access_logger,
                 keys):
        """``fallback`` is the Python lane for ``path`` (an ASGI callable).

        ``headers`` are the route's security headers; ``requests``,
        ``failures`` and ``duration`` the mirrors of its 2xx and 5xx counters
        and latency histogram (a call that fails before its answer is ready,
        a cancelled one say, counts as 5xx, as in the Python lane).
        ``access_logger`` (or None when the access log is off) is asked per
        request: while it logs successful calls (debug level), they go to the
        Python lane, which writes those lines. ``keys`` is the service's
        ``KeyChecker`` when API keys are configured (else None): a call whose
        key it does not admit goes to the Python lane, which answers 401 or 403.
        """
        self.app, self.path = app, path
        self.fallback, self.manager, self.metrics = fallback, manager, metrics
        self.headers = list(headers)
        self.requests, self.failures, self.duration = requests, failures, duration
        self.duration_bounds = Doubles(duration_bounds)
        self.max_body_bytes, self.cors = max_body_bytes, cors
        self.access_logger, self.keys = access_logger, keys
        # Request IDs need to be unique, not secret: splitmix64 from a random seed.
        self.state = int.from_bytes(os.urandom(8), "little")

    cdef bytes request_id(self):
        cdef char[32] text
        cdef uint64_t mixed
        cdef int half, digit
        for half in range(2):
            self.state += <uint64_t>0x9E3779B97F4A7C15
            mixed = self.state
            mixed = (mixed ^ (mixed >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
            mixed = (mixed ^ (mixed >> 27)) * <uint64_t>0x94D049BB133111EB
            mixed = mixed ^ (mixed >> 31)
            for digit in range(16):
                text[half * 16 + digit] = HEX_DIGITS[(mixed >> (4 * digit)) & 15]
        return PyBytes_FromStringAndSize(text, 32)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        cdef double started = monotonic()
        cdef double[MAX_VALUES] row
        if self.access_logger is not None and self.access_logger.isEnabledFor(10):  # DEBUG
            return await self.fallback(scope, receive, send)
        found = {}
        for name, value in scope["headers"]:
            if name in READ_HEADERS:
                found.setdefault(name, value)  # the first of repeated headers wins, as in Call
            elif name == b"origin" and self.cors:
                return await self.fallback(scope, receive, send)
        if found.get(b"content-type") != b"application/json" or not self._within_limit(
            found.get(b"content-length")
        ):
            return await self.fallback(scope, receive, send)
        if self.keys is not None and not self._admitted(
            found.get(b"x-api-key"), found.get(b"authorization")
        ):
            return await self.fallback(scope, receive, send)
        incoming_id = found.get(b"x-request-id")
        model = self.manager.current
        kernel = None if model is None else model.kernel
        if kernel is None:
            return await self.fallback(scope, receive, send)
        request_id = (
            incoming_id
            if incoming_id is not None and safe_request_id(incoming_id)
            else self.request_id()
        )
        self.metrics.requests_in_flight += 1
        deferred = None
        requests = self.failures  # until the answer is ready: what the Python lane counts as 500
        try:
            message = await receive()
            body = self._answer(message, <RowKernel>kernel, row)
            if body is None:
                deferred = message
            else:
                requests = self.requests
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                headers += self.headers
                headers.append((b"x-request-id", request_id))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
        finally:
            self.metrics.requests_in_flight -= 1
            if deferred is None:
                requests[0] = requests[0] + 1
                observe(self.duration, self.duration_bounds, monotonic() - started)
        if deferred is not None:
            # Refusals are the Python lane's: it reads the same body and names the problem.
            await self.fallback(scope, Replay(deferred, receive), send)

    cdef bint _admitted(self, api_key, authorization):
        """The key check of ``KeyChecker``, on the headers it reads (decoded as in ``Call``)."""
        presented = {}
        if api_key is not None:
            presented["x-api-key"] = (<bytes>api_key).decode("latin-1")
        if authorization is not None:
            presented["authorization"] = (<bytes>authorization).decode("latin-1")
        return self.keys.admits(presented)

    cdef bint _within_limit(self, content_length):
        """``Call.json_body``'s check of a declared length (non-digits are left to the body)."""
        cdef Py_ssize_t size, index, declared = 0
        cdef const char* digits
        if content_length is None:
            return True
        size = PyBytes_GET_SIZE(content_length)
        digits = PyBytes_AS_STRING(content_length)
        for index in range(size):
            if not b"0" <= digits[index] <= b"9":
                return False  # the Python lane decides what such a header means
            if declared > self.max_body_bytes or declared > (PY_SSIZE_T_MAX - 9) // 10:
                return False
            declared = declared * 10 + (digits[index] - 48)
        return size > 0 and declared <= self.max_body_bytes

    cdef object _answer(self, dict message, RowKernel kernel, double* row):
        """The answer's body, or None when the Python lane must answer."""
        if message.get("type") != "http.request" or message.get("more_body", False):
            return None
        body = message.get("body", b"")
        if type(body) is not bytes or PyBytes_GET_SIZE(body) > self.max_body_bytes:
            return None
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not read_row(payload, kernel.features, kernel.features_is_a_feature, row):
            return None
        try:
            return kernel.answer(row)
        except Exception:  # the Python lane logs it and answers 500 with the usual headers
            return None
