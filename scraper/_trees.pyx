# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The tree evaluator of ``scraper.trees``, compiled: a LightGBM binary model's
probabilities for the rows of a feature matrix, bit for bit those of
``Booster.predict``.

``scraper.trees.read_forest`` reads the model text into flat arrays; ``Forest``
packs them into one array of 16-byte nodes. A batch of rows goes through each tree
together, one level a step, and no decision is a branch: a split's two children are
next to each other (the right one after the left one), so the child is a sum. A leaf
is a node that leads to itself: its threshold is its value and its feature one past
the model's, always -inf, so it sends every row "left", to itself. The walk of a tree
ends at the first step no row moves.

A row is read once into two buffers: its numerical features as LightGBM reads them
(as doubles, values it reads as zero made zero), and each categorical feature as a
64-bit word with the bit of its category set (none for a value LightGBM puts in no
category). A numerical split compares the first; a categorical split ANDs its
bitset with the second. A categorical feature is NaN in the first buffer and a
numerical one 0 in the second, so each kind of split is blind to the other kind of
feature and the two tests can simply be ORed.
"""

from libc.math cimport INFINITY, NAN, exp, fabs, isnan
from libc.stdint cimport int16_t, int32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from cython cimport floating

# Rows walked through a tree together.
DEF BATCH = 8
# LightGBM reads |x| <= kZeroThreshold (meta.h: 1e-35f, widened to double) as zero.
cdef double ZERO_THRESHOLD = <double>(<float>1e-35)
# A split's flags (``scraper.trees``): a missing value goes left; a zero goes the
# other way than the threshold says.
DEF NAN_LEFT = 1
DEF ZERO_FLIP = 2
# Categories LightGBM's ``static_cast<int>`` does not make negative, and the
# categories a 64-bit bitset holds.
DEF CATEGORY_LOW = -1.0
DEF CATEGORY_HIGH = 64.0


cdef union Test:
    double threshold  # a numerical split's; a leaf's value
    uint64_t categories  # a categorical split's bitset


cdef struct Node:
    Test test
    int32_t children  # the left child; the right one is the next node
    int16_t feature
    int16_t flags


cdef class Forest:
    """A stage's trees; ``predict`` fills ``out`` with the probabilities of ``x``'s
    rows."""

    cdef Node *nodes
    cdef int32_t *roots
    cdef bint *categorical
    cdef readonly int trees, features
    cdef readonly double sigmoid
    cdef readonly bint plain  # no split treats NaN otherwise than as 0.0
    cdef bint ready  # made, and its arrays checked

    def __cinit__(self):
        self.nodes = NULL
        self.roots = NULL
        self.categorical = NULL
        self.ready = False

    def __init__(
        self,
        int features,
        double sigmoid,
        const int32_t[:] roots,
        const int32_t[:] feature,
        const double[:] threshold,
        const uint64_t[:] categories,
        const int32_t[:] children,
        const int32_t[:] flags,
        const int32_t[:] categorical,
    ):
        """ValueError unless the arrays make trees this module walks safely: every
        index within its array, a split's children after it (so a walk ends), a leaf
        leading to itself, and each kind of split reading its kind of feature."""
        cdef Py_ssize_t n = feature.shape[0], i
        cdef bint leaf, category
        if not 0 < features < 2**15 - 1:
            raise ValueError(f"{features} features")
        if not n or not n == threshold.shape[0] == categories.shape[0] == children.shape[0]:
            raise ValueError("nodes without all their fields")
        if n != flags.shape[0]:
            raise ValueError("nodes without all their fields")
        if self.nodes != NULL:
            raise ValueError("a Forest is made once")
        self.features = features
        self.sigmoid = sigmoid
        self.trees = roots.shape[0]
        self.nodes = <Node *>malloc(n * sizeof(Node))
        self.roots = <int32_t *>malloc(max(self.trees, 1) * sizeof(int32_t))
        self.categorical = <bint *>malloc(features * sizeof(bint))
        if not (self.nodes and self.roots and self.categorical):
            raise MemoryError()
        for i in range(features):
            self.categorical[i] = False
        for i in range(categorical.shape[0]):
            if not 0 <= categorical[i] < features:
                raise ValueError("a categorical feature the model does not have")
            self.categorical[categorical[i]] = True
        for i in range(self.trees):
            if not 0 <= roots[i] < n:
                raise ValueError("a tree without its root")
            self.roots[i] = roots[i]
        self.plain = True
        for i in range(n):
            leaf = children[i] == i
            if leaf and (feature[i] != features or categories[i] or flags[i] or isnan(threshold[i])):
                raise ValueError("a leaf that does not lead to itself")
            if not leaf and not 0 <= feature[i] < features:
                raise ValueError("a split on a feature the model does not have")
            category = not leaf and self.categorical[feature[i]]
            if not leaf and not (i < children[i] < n - 1 and category == (categories[i] != 0)):
                raise ValueError("a split whose children or feature are out of place")
            if not 0 <= flags[i] <= (NAN_LEFT | ZERO_FLIP):
                raise ValueError("a split with unknown flags")
            if not (leaf or categories[i]) and (
                flags[i] & ZERO_FLIP or (flags[i] & NAN_LEFT != 0) != (0.0 <= threshold[i])
            ):
                self.plain = False
            if categories[i]:
                self.nodes[i].test.categories = categories[i]
            else:
                self.nodes[i].test.threshold = threshold[i]
            self.nodes[i].children = children[i]
            self.nodes[i].feature = <int16_t>feature[i]
            self.nodes[i].flags = <int16_t>flags[i]
        self.ready = True

    def __dealloc__(self):
        free(self.nodes)
        free(self.roots)
        free(self.categorical)

    def predict(self, const floating[:, :] x, double[:] out):
        """Each row's probability into ``out``: the leaves' values summed in tree
        order, then LightGBM's sigmoid (binary_objective.hpp, ConvertOutput)."""
        cdef Py_ssize_t rows = x.shape[0], start, count, g, j
        cdef int width = self.features + 1  # and the leaves' feature
        cdef double *numbers
        cdef uint64_t *categories
        cdef double scores[BATCH]
        if not self.ready:
            raise ValueError("a Forest whose arrays were refused")
        if x.shape[1] != self.features:
            raise ValueError(f"{x.shape[1]} features, the model reads {self.features}")
        if out.shape[0] != rows:
            raise ValueError("out must have a place for each row")
        numbers = <double *>malloc(BATCH * width * sizeof(double))
        categories = <uint64_t *>malloc(BATCH * width * sizeof(uint64_t))
        if numbers == NULL or categories == NULL:
            free(numbers)
            free(categories)
            raise MemoryError()
        with nogil:
            memset(numbers, 0, BATCH * width * sizeof(double))
            memset(categories, 0, BATCH * width * sizeof(uint64_t))
            for g in range(BATCH):
                numbers[g * width + width - 1] = -INFINITY
            # a last batch of fewer rows walks what the buffers hold past them too
            # (the walk ends whatever it holds): their scores are not read
            for start in range(0, rows, BATCH):
                count = min(BATCH, rows - start)
                for g in range(count):
                    for j in range(self.features):
                        self._read(x[start + g, j], j, &numbers[g * width], &categories[g * width])
                self._batch(numbers, categories, scores)
                for g in range(count):
                    out[start + g] = 1.0 / (1.0 + exp(-self.sigmoid * scores[g]))
        free(numbers)
        free(categories)

    cdef inline void _read(
        self, double v, Py_ssize_t j, double *numbers, uint64_t *categories
    ) noexcept nogil:
        """Feature ``j`` of a row into the two buffers."""
        if fabs(v) <= ZERO_THRESHOLD:
            v = 0.0  # what LightGBM's dense-to-sparse row conversion drops
        if not self.categorical[j]:
            numbers[j] = 0.0 if self.plain and isnan(v) else v
            return
        numbers[j] = NAN
        categories[j] = 0
        if v > CATEGORY_LOW and v < CATEGORY_HIGH:  # not NaN
            categories[j] = (<uint64_t>1) << <int>v

    cdef void _batch(
        self, const double *numbers, const uint64_t *categories, double *scores
    ) noexcept nogil:
        # two copies of the walk: without the tests of missing values and zeros
        # where NaN reads as 0.0 at every split (the numbers buffer holds 0.0 then)
        if self.plain:
            self._walk(numbers, categories, scores, True)
        else:
            self._walk(numbers, categories, scores, False)

    cdef inline void _walk(
        self, const double *numbers, const uint64_t *categories, double *scores, bint plain
    ) noexcept nogil:
        cdef int32_t at[BATCH]
        cdef int g, t, moving, width = self.features + 1, offset
        cdef int32_t i
        cdef const Node *node
        cdef double f
        cdef int left
        for g in range(BATCH):
            scores[g] = 0.0
        for t in range(self.trees):
            for g in range(BATCH):
                at[g] = self.roots[t]
            moving = 1
            while moving:
                moving = 0
                for g in range(BATCH):
                    node = &self.nodes[at[g]]
                    offset = g * width + node.feature
                    f = numbers[offset]
                    # NumericalDecision (a NaN compares false), then CategoricalDecision
                    left = f <= node.test.threshold
                    if not plain:
                        left = (left | ((f != f) & node.flags)) ^ ((f == 0.0) & (node.flags >> 1))
                    left |= (node.test.categories & categories[offset]) != 0
                    i = node.children + 1 - left
                    moving |= i != at[g]
                    at[g] = i
            for g in range(BATCH):
                scores[g] += self.nodes[at[g]].test.threshold
