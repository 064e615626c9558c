# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The block walk of ``scraper.blocks.segment``, compiled: the same pass over the
lexbor tree, with the per-node work (moving through the tree, reading tags and
text, the context each element inherits, the judging of ASCII attribute values) in
C and only the closing of blocks and the making of the result in Python.

It reads the tree through lexbor's own accessor functions, which selectolax's
extension exports: they are looked up in it when this module is imported (the
extension is loaded already), so no lexbor header is needed and every node is an
opaque pointer. A symbol missing from the extension makes the import fail, and
``scraper.blocks`` then uses its Python walk.
"""

from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.list cimport PyList_GET_SIZE
from cpython.object cimport PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF, PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_SET_ITEM
from cpython.unicode cimport (
    PyUnicode_1BYTE_KIND, PyUnicode_DATA, PyUnicode_DecodeUTF8, PyUnicode_FromKindAndData,
    PyUnicode_KIND, PyUnicode_READ, PyUnicode_WRITE, Py_UNICODE_ISSPACE
)
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

from ._lexbor cimport (
    name_fn, node_fn, selectolax_library, symbol, tag_id_fn, type_fn, uchar
)
ctypedef uchar *(*text_fn)(void *node, size_t *length) noexcept nogil
ctypedef void *(*free_text_fn)(void *document, uchar *text) noexcept nogil
ctypedef void *(*set_attribute_fn)(
    void *element, const uchar *name, size_t name_length, const uchar *value, size_t value_length
) noexcept nogil

# lexbor's tag ids and node types (lexbor/tag/const.h, lexbor/dom/interfaces/node.h)
DEF TAG_TEXT = 0x02
DEF TAG_DOCUMENT = 0x03
DEF TAG_COMMENT = 0x04
DEF TAG_DOCTYPE = 0x05
DEF NODE_ELEMENT = 0x01
DEF NODE_TEXT = 0x03
DEF NODE_DOCUMENT = 0x09

DEF MAX_JUDGED = 16
DEF FNV_OFFSET = 2166136261
DEF FNV_PRIME = 16777619

# What the walk does with an element, by its tag (``tag_kind`` in scraper.blocks).
DEF KIND_BLOCK = 0
DEF KIND_INLINE = 1
DEF KIND_BREAK = 2
DEF KIND_LINK = 3
DEF KIND_SKIP = 4

cdef tag_id_fn tag_id_of
cdef node_fn first_child_of, next_of, parent_of, first_attribute_of, next_attribute_of
cdef type_fn type_of
cdef name_fn element_name_of, attribute_name_of, attribute_value_of
cdef text_fn text_of
cdef free_text_fn free_text
cdef set_attribute_fn set_attribute_of


def _bind():
    global tag_id_of, first_child_of, next_of, parent_of, first_attribute_of
    global next_attribute_of, type_of, element_name_of, attribute_name_of
    global attribute_value_of, text_of, free_text, set_attribute_of
    cdef void *library = selectolax_library()
    tag_id_of = <tag_id_fn>symbol(library, b"lxb_dom_node_tag_id_noi")
    first_child_of = <node_fn>symbol(library, b"lxb_dom_node_first_child_noi")
    next_of = <node_fn>symbol(library, b"lxb_dom_node_next_noi")
    parent_of = <node_fn>symbol(library, b"lxb_dom_node_parent_noi")
    type_of = <type_fn>symbol(library, b"lxb_dom_node_type_noi")
    element_name_of = <name_fn>symbol(library, b"lxb_dom_element_qualified_name")
    first_attribute_of = <node_fn>symbol(library, b"lxb_dom_element_first_attribute_noi")
    next_attribute_of = <node_fn>symbol(library, b"lxb_dom_element_next_attribute_noi")
    attribute_name_of = <name_fn>symbol(library, b"lxb_dom_attr_qualified_name")
    attribute_value_of = <name_fn>symbol(library, b"lxb_dom_attr_value_noi")
    text_of = <text_fn>symbol(library, b"lxb_dom_node_text_content")
    free_text = <free_text_fn>symbol(library, b"lxb_dom_document_destroy_text_noi")
    set_attribute_of = <set_attribute_fn>symbol(library, b"lxb_dom_element_set_attribute")


_bind()


# A text node's data where lexbor keeps it (``lxb_dom_character_data_t.data``, after
# the node's own fields): read there, not copied and freed, in the lexbor of a
# selectolax known to lay nodes out so, once a probe page says it does.
IN_PLACE_SELECTOLAX = "1.0.2"
DEF NODE_SIZE = 96  # sizeof(lxb_dom_node_t)
DEF NEXT_OFFSET = 40  # offsetof(lxb_dom_node_t, next), then prev, parent, first_child


cdef struct CharacterData:
    uchar *data
    size_t length


cdef inline CharacterData *_character_data(void *node) noexcept nogil:
    return <CharacterData *>(<char *>node + NODE_SIZE)


cdef bint text_in_place = False


cdef inline uchar *_text_data(void *node, size_t *length, bint *copied) noexcept nogil:
    """The data of the text node ``node`` (``length`` bytes): read in place where
    ``text_in_place`` says so, else a copy (``copied``) to hand to ``free_text``."""
    copied[0] = not text_in_place
    if copied[0]:
        return text_of(node, length)
    length[0] = _character_data(node).length
    return _character_data(node).data


def _laid_out_in_place():
    """Whether the text nodes' data can be read in place: selectolax is the one whose
    layout this module knows, and on a probe page every node's links are where that
    layout puts them and every text node's data is what lexbor's accessor copies."""
    import selectolax
    from selectolax.lexbor import LexborHTMLParser

    if selectolax.__version__ != IN_PLACE_SELECTOLAX:
        return False
    probe = LexborHTMLParser("<p>a <b>bc</b>\u00e9\u4e2d d<!-- x --></p>\n<div>\U0001f600 e</div>x")
    cdef void *node
    cdef void **links
    cdef uchar *copy
    cdef size_t length
    cdef CharacterData *data
    cdef bint alike
    cdef void *document = <void *><size_t>probe.root.mem_id
    while type_of(document) != NODE_DOCUMENT:
        document = parent_of(document)
    for item in probe.root.traverse(include_text=True):
        node = <void *><size_t>item.mem_id
        links = <void **>(<char *>node + NEXT_OFFSET)
        if links[0] != next_of(node) or links[2] != parent_of(node) or links[3] != first_child_of(node):
            return False
        if type_of(node) != NODE_TEXT:
            continue
        copy = text_of(node, &length)
        data = _character_data(node)
        alike = copy != NULL and data.length == length and memcmp(data.data, copy, length + 1) == 0
        free_text(document, copy)
        if not alike:
            return False
    return True


TEXT_IN_PLACE = _laid_out_in_place()
text_in_place = TEXT_IN_PLACE


def read_in_place(bint on):
    """Read the text nodes' data in place (where ``TEXT_IN_PLACE`` allows it), or copy
    it through lexbor's accessor (a test compares the two)."""
    global text_in_place
    text_in_place = on and TEXT_IN_PLACE


cdef inline str _decode(const uchar *data, size_t length):
    # as selectolax decodes: bytes lexbor passed through undecoded become U+FFFD
    return PyUnicode_DecodeUTF8(<const char *>data, length, "replace")


cdef class Element:
    """An element of the tree a block belongs to: what ``scraper.blocks`` reads and
    writes of a block's node (its ``mem_id``, tag, and attributes through ``attrs``).
    It holds the parser, so the tree lives as long as it does."""

    cdef size_t pointer
    cdef readonly object tag
    cdef object parser

    @property
    def mem_id(self):
        return self.pointer

    @property
    def attrs(self):
        return self

    def get(self, str key, default=None):
        """The value of attribute ``key`` (None for one without a value), or
        ``default``; the name is matched as selectolax matches it (the qualified
        name, ASCII case-insensitive)."""
        cdef bytes name = key.encode("utf-8")
        cdef const uchar *wanted = name
        cdef size_t length = len(name), found_length = 0, value_length = 0, i
        cdef const uchar *found
        cdef const uchar *value
        if self.pointer == 0 or type_of(<void *>self.pointer) != NODE_ELEMENT:
            return default
        cdef void *attribute = first_attribute_of(<void *>self.pointer)
        while attribute != NULL:
            found = attribute_name_of(attribute, &found_length)
            if found != NULL and found_length == length:
                for i in range(length):
                    if _lower(found[i]) != _lower(wanted[i]):
                        break
                else:
                    value = attribute_value_of(attribute, &value_length)
                    return _decode(value, value_length) if value != NULL else None
            attribute = next_attribute_of(attribute)
        return default

    def __setitem__(self, str key, str value):
        if not key:
            raise ValueError("attribute name cannot be empty")
        if self.pointer == 0 or type_of(<void *>self.pointer) != NODE_ELEMENT:
            raise TypeError("attributes are only set on elements")
        cdef bytes name = key.encode("utf-8")
        cdef bytes data = value.encode("utf-8")
        if set_attribute_of(<void *>self.pointer, name, len(name), data, len(data)) == NULL:
            raise MemoryError("lexbor could not set the attribute")


cdef inline uchar _lower(uchar c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef inline bint _lower_or_digit(uchar c) noexcept nogil:
    return 97 <= c <= 122 or 48 <= c <= 57


cdef inline bint _upper(uchar c) noexcept nogil:
    return 65 <= c <= 90


cdef inline size_t _hash(const uchar *data, size_t length) noexcept nogil:
    """FNV-1a, 32 bits."""
    cdef unsigned int h = FNV_OFFSET
    cdef size_t i
    for i in range(length):
        h = (h ^ data[i]) * FNV_PRIME
    return h


cdef struct Word:
    uchar *key  # NULL: an empty slot
    size_t length
    long verdict
    long kinds
    bint starts  # the first word of a bigram


cdef class Vocabulary:
    """``scraper.blocks._judge`` (and ``_value_figures``, for each value it reads),
    with the words and bigrams it looks for in a C hash table. An ASCII value is cut
    into words here as ``clean._words`` cuts it (runs of ASCII letters and digits, a
    capital after a small letter or digit starting a new one, lower-cased); another
    value is judged by ``fallback`` (``_value_figures``), as Unicode lower-casing can
    turn a letter into ASCII ones (K, the Kelvin sign, into k).

    A value's verdict is the strongest its words and pairs of adjacent words give,
    its kinds those of all its words: ``words`` maps a word to its ``(verdict,
    kinds)``, ``bigrams`` a pair ``"a b"`` to its verdict. ``token_attributes`` are
    the attributes whose values are judged (``class`` among them); ``role``,
    ``style``, ``hidden`` and ``aria-hidden`` are read too, ``roles`` giving
    ``role_verdict`` and ``display_none`` (a search of a style) hiding."""

    cdef Word *table
    cdef size_t slots  # a power of two
    cdef uchar *scratch  # a value's words, lower-cased, a space between two
    cdef size_t room
    cdef object fallback, display_none
    cdef frozenset roles
    cdef long role_verdict
    cdef readonly tuple judged  # the attributes read, the token attributes first
    cdef Py_ssize_t token_count, class_slot, role_slot, style_slot, hidden_slot, aria_slot

    def __cinit__(self, dict words, dict bigrams, tuple token_attributes, roles,
                  long role_verdict, display_none, fallback):
        self.judged = (*token_attributes, "role", "style", "hidden", "aria-hidden")
        if len(self.judged) > MAX_JUDGED:
            raise ValueError(f"at most {MAX_JUDGED} attributes are judged")
        if "class" not in token_attributes:
            raise ValueError("the class attribute must be judged")
        self.token_count = len(token_attributes)
        self.class_slot = token_attributes.index("class")
        self.role_slot, self.style_slot = self.token_count, self.token_count + 1
        self.hidden_slot, self.aria_slot = self.token_count + 2, self.token_count + 3
        self.roles = frozenset(roles)
        self.role_verdict = role_verdict
        self.display_none = display_none
        self.fallback = fallback
        self.slots = 64
        while self.slots < <size_t>(4 * (len(words) + 2 * len(bigrams))):
            self.slots *= 2
        self.table = <Word *>calloc(self.slots, sizeof(Word))
        if self.table == NULL:
            raise MemoryError()
        cdef Word *word
        for key, (verdict, kinds) in words.items():
            word = self.entry(key)
            word.verdict = max(word.verdict, verdict)
            word.kinds |= kinds
        for key, verdict in bigrams.items():
            first, space, second = key.partition(" ")
            if not (first and space and second) or " " in second:
                raise ValueError(f"not a pair of words: {key!r}")
            word = self.entry(key)
            word.verdict = max(word.verdict, verdict)
            self.entry(first).starts = True

    def __dealloc__(self):
        cdef size_t i
        if self.table != NULL:
            for i in range(self.slots):
                free(self.table[i].key)
        free(self.table)
        free(self.scratch)

    cdef Word *entry(self, str key) except NULL:
        """The slot of ``key``, made (verdict and kinds 0) where it is missing."""
        cdef bytes data = key.encode("utf-8")
        cdef size_t length = len(data)
        cdef Word *word = self.find(data, length)
        if word != NULL:
            return word
        cdef size_t i = _hash(data, length) & (self.slots - 1)
        while self.table[i].key != NULL:
            i = (i + 1) & (self.slots - 1)
        word = &self.table[i]
        word.key = <uchar *>malloc(length + 1)
        if word.key == NULL:
            raise MemoryError()
        memcpy(word.key, <const char *>data, length)
        word.length = length
        return word

    cdef inline Word *find(self, const uchar *data, size_t length) noexcept nogil:
        return self.hashed(_hash(data, length), data, length)

    cdef inline Word *hashed(self, size_t hash, const uchar *data, size_t length) noexcept nogil:
        """``find``, given the key's ``_hash``."""
        cdef size_t i = hash & (self.slots - 1)
        cdef Word *word
        while True:
            word = &self.table[i]
            if word.key == NULL:
                return NULL
            if word.length == length and memcmp(word.key, data, length) == 0:
                return word
            i = (i + 1) & (self.slots - 1)

    cdef int figures(self, const uchar *data, size_t length, long *verdict,
                     long *kinds) except -1:
        """The verdict and kinds of one attribute value (``_value_figures``). The
        hashes of each word and of each pair of words are made as they are read."""
        cdef size_t i, write = 0, start = 0, previous = 0
        cdef bint inside = False, pair = False
        cdef uchar c
        cdef unsigned int word_hash = FNV_OFFSET, pair_hash = FNV_OFFSET
        cdef Word *word
        cdef Word *bigram
        verdict[0] = kinds[0] = 0
        if self.room < 2 * length + 1:
            free(self.scratch)
            self.scratch = <uchar *>malloc(2 * length + 1)
            if self.scratch == NULL:
                self.room = 0
                raise MemoryError()
            self.room = 2 * length + 1
        for i in range(length + 1):
            c = data[i] if i < length else 0
            if c >= 128:
                found_verdict, found_kinds = self.fallback(_decode(data, length))
                verdict[0], kinds[0] = found_verdict, found_kinds
                return 0
            if inside and not (_lower_or_digit(c) or (_upper(c) and not _lower_or_digit(data[i - 1]))):
                # a word ends: at a separator, or at a capital after a small letter or digit
                inside = False
                word = self.hashed(word_hash, self.scratch + start, write - start)
                if pair:  # the word before starts a bigram: "a b" is written as such
                    bigram = self.hashed(pair_hash, self.scratch + previous, write - previous)
                    if bigram != NULL and bigram.verdict > verdict[0]:
                        verdict[0] = bigram.verdict
                pair = False
                if word != NULL:
                    if word.verdict > verdict[0]:
                        verdict[0] = word.verdict
                    kinds[0] |= word.kinds
                    pair = word.starts
                previous = start
            if not inside and (_lower_or_digit(c) or _upper(c)):
                inside = True
                if write:
                    self.scratch[write] = 32
                    write += 1
                pair_hash = (word_hash ^ 32) * FNV_PRIME  # the word before, and a space
                word_hash = FNV_OFFSET
                start = write
            if inside:
                self.scratch[write] = _lower(c)
                write += 1
                word_hash = (word_hash ^ _lower(c)) * FNV_PRIME
                pair_hash = (pair_hash ^ _lower(c)) * FNV_PRIME
        return 0

    cdef int judge(self, const uchar **values, size_t *lengths, long mask, long *verdict,
                   long *kinds, bint *hidden) except -1:
        """``_judge`` of the attributes in ``mask``, their values in their slots of
        ``judged`` (NULL for an attribute without a value)."""
        cdef Py_ssize_t i
        self.verdict(values, lengths, mask, verdict, kinds)
        hidden[0] = False
        i = self.aria_slot
        if mask & (1 << self.hidden_slot):
            hidden[0] = True
        elif mask & (1 << i) and values[i] != NULL and lengths[i] == 4 and memcmp(values[i], b"true", 4) == 0:
            hidden[0] = True
        else:
            i = self.style_slot
            if mask & (1 << i) and values[i] != NULL and lengths[i]:
                hidden[0] = bool(self.display_none(_decode(values[i], lengths[i])))
        return 0

    cdef int verdict(self, const uchar **values, size_t *lengths, long mask, long *verdict,
                     long *kinds) except -1:
        """The verdict and kinds of ``judge`` (and clean.py's verdict)."""
        cdef Py_ssize_t i
        cdef long value_verdict, value_kinds
        verdict[0] = kinds[0] = 0
        i = self.role_slot
        if mask & (1 << i) and values[i] != NULL and _decode(values[i], lengths[i]) in self.roles:
            verdict[0] = self.role_verdict
        for i in range(self.token_count):
            if mask & (1 << i) and values[i] != NULL and lengths[i]:
                self.figures(values[i], lengths[i], &value_verdict, &value_kinds)
                if value_verdict > verdict[0]:
                    verdict[0] = value_verdict
                kinds[0] |= value_kinds
        return 0

    def value_figures(self, str value):
        """``_value_figures(value)`` as the walk reckons it."""
        cdef bytes data = value.encode("utf-8")
        cdef long verdict, kinds
        self.figures(data, len(data), &verdict, &kinds)
        return verdict, kinds

    def judge_attributes(self, dict attrs):
        """``_judge(attrs)`` as the walk reckons it (the attributes it does not read
        are left out; a value None is an attribute without one)."""
        cdef const uchar *values[MAX_JUDGED]
        cdef size_t lengths[MAX_JUDGED]
        cdef long mask = 0, verdict, kinds
        cdef bint hidden
        cdef Py_ssize_t i
        encoded = []
        for i, key in enumerate(self.judged):
            values[i] = NULL
            lengths[i] = 0
            if key in attrs:
                mask |= 1 << i
                if attrs[key] is not None:
                    data = attrs[key].encode("utf-8")
                    encoded.append(data)
                    values[i] = <bytes>data
                    lengths[i] = len(<bytes>data)
        self.judge(values, lengths, mask, &verdict, &kinds, &hidden)
        i = self.class_slot
        class_name = _decode(values[i], lengths[i]) if mask & (1 << i) and values[i] != NULL else ""
        return verdict, kinds, class_name, hidden


cdef Element _element(size_t pointer, object tag, object parser):
    cdef Element element = Element.__new__(Element)
    element.pointer = pointer
    element.tag = tag
    element.parser = parser
    return element


cdef struct Context:
    long depth
    long flags
    long verdict
    long chrome_depth
    long kinds
    long path
    size_t parent
    size_t grandparent
    long number


cdef extern from "Python.h":
    ctypedef PyObject *(*allocfunc)(PyTypeObject *kind, Py_ssize_t items)
    ctypedef struct TypeSlots "PyTypeObject":
        allocfunc tp_alloc


cdef object _context(type context_type, const Context *c):
    """``tuple.__new__(context_type, (c.depth, ..., c.number))``."""
    cdef PyObject *allocated = (<TypeSlots *>context_type).tp_alloc(
        <PyTypeObject *>context_type, 9
    )
    if allocated == NULL:
        raise MemoryError()
    made = <object>allocated
    Py_DECREF(made)  # the reference ``made`` took: tp_alloc gave one
    _put(made, 0, c.depth)
    _put(made, 1, c.flags)
    _put(made, 2, c.verdict)
    _put(made, 3, c.chrome_depth)
    _put(made, 4, c.kinds)
    _put(made, 5, c.path)
    _put(made, 6, c.parent)
    _put(made, 7, c.grandparent)
    _put(made, 8, c.number)
    return made


cdef inline void _put(object made, Py_ssize_t i, object value):
    Py_INCREF(value)  # the tuple's reference
    PyTuple_SET_ITEM(made, i, value)


cdef class _Open:
    """A block while the walk writes into it (``scraper.blocks.Block``'s fields)."""

    cdef size_t node
    cdef Element handle  # the node's, once a block of it closes (one per element)
    cdef object tag
    cdef Context context
    cdef long own_verdict, own_kinds, element
    cdef object class_name
    cdef list parts  # None until the block has a part
    cdef Py_ssize_t link_chars, links
    cdef object text
    cdef bint closed
    cdef bint last_space  # the last part ends in a space
    cdef bint last_break  # the last part is a line break's "\n"

    cdef _Open continued(self):
        cdef _Open block = _Open.__new__(_Open)
        block.node = self.node
        block.handle = self.handle
        block.tag = self.tag
        block.context = self.context
        block.own_verdict = self.own_verdict
        block.own_kinds = self.own_kinds
        block.class_name = self.class_name
        block.element = self.element
        block.text = ""
        return block

    cdef inline int add(self, str part) except -1:
        if self.parts is None:
            self.parts = [part]
        else:
            self.parts.append(part)
        return 0


cdef _Open _open(size_t node, object tag, Context context, long verdict, long kinds,
                 object class_name, long element):
    cdef _Open block = _Open.__new__(_Open)
    block.node = node
    block.tag = tag
    block.context = context
    block.own_verdict = verdict
    block.own_kinds = kinds
    block.class_name = class_name
    block.element = element
    block.text = ""
    return block


cdef struct Frame:
    void *next  # the next child to read
    Context context  # what the children inherit
    bint in_link
    long number  # the element's number, -1 for an inline element
    PyObject *owner  # the block its children write into (a reference the frame holds)


cdef struct Tag:
    size_t key  # 0: an empty slot
    PyObject *tag  # its name
    int kind
    long flag
    long code


cdef class _Walk:
    """One walk: its frames (a C stack), the tree of block-level elements it
    numbers, and what it calls back into Python for."""

    cdef Frame *frames
    cdef Py_ssize_t depth, capacity
    cdef long *parents
    cdef long *depths
    cdef long *ends
    cdef Py_ssize_t count, room
    cdef list blocks
    cdef dict verdicts
    cdef Tag *tags  # the tags read: ``tag_slots`` (a power of two), at most half used
    cdef size_t tag_slots, tag_count
    cdef list tag_names  # each tag's name, held for ``tags``
    cdef object nfc  # unicodedata's NFC of a text
    cdef size_t root
    cdef object root_tag, parser
    cdef object empty

    def __dealloc__(self):
        while self.depth:
            self.pop()
        free(self.tags)
        free(self.frames)
        free(self.parents)
        free(self.depths)
        free(self.ends)

    cdef int push(self, void *first, Context context, bint in_link, long number,
                  _Open owner) except -1:
        cdef Frame *grown
        if self.depth == self.capacity:
            self.capacity = self.capacity * 2 + 64
            grown = <Frame *>realloc(self.frames, self.capacity * sizeof(Frame))
            if grown == NULL:
                raise MemoryError()
            self.frames = grown
        self.frames[self.depth].next = first
        self.frames[self.depth].context = context
        self.frames[self.depth].in_link = in_link
        self.frames[self.depth].number = number
        Py_INCREF(owner)
        self.frames[self.depth].owner = <PyObject *>owner
        self.depth += 1
        return 0

    cdef inline void pop(self) noexcept:
        self.depth -= 1
        Py_XDECREF(self.frames[self.depth].owner)

    cdef inline _Open owner(self):
        """The block the innermost frame's children write into."""
        return <_Open>self.frames[self.depth - 1].owner

    cdef Tag *tag(self, size_t key, const uchar *name, size_t length,
                  object tag_kind) except NULL:
        """How the walk reads an element's tag: ``tag_kind`` of its name, remembered
        by ``key``, the name's pointer (lexbor keeps one per name), or the tag id of
        a document or doctype (``name`` NULL)."""
        cdef size_t i, slots = self.tag_slots
        cdef Tag *old = self.tags
        if 2 * (self.tag_count + 1) > slots:  # grown: the tags read move over
            self.tag_slots = 2 * slots + 64
            self.tags = <Tag *>calloc(self.tag_slots, sizeof(Tag))
            if self.tags == NULL:
                self.tags, self.tag_slots = old, slots
                raise MemoryError()
            for i in range(slots):
                if old[i].key:
                    self.slot(old[i].key)[0] = old[i]
            free(old)
        cdef Tag *reading = self.slot(key)
        if reading.key == 0:
            if name != NULL:
                tag = _decode(name, length)
            else:
                tag = "-document" if key == TAG_DOCUMENT else "-doctype"
            kind, flag, code = tag_kind(tag)
            self.tag_names.append(tag)
            reading.key, reading.tag = key, <PyObject *>tag
            reading.kind, reading.flag, reading.code = kind, flag, code
            self.tag_count += 1
        return reading

    cdef inline Tag *slot(self, size_t key) noexcept:
        """The slot of ``key`` in ``tags``, or the empty one where it goes."""
        cdef size_t i = ((key >> 4) * 2654435761u) & (self.tag_slots - 1)
        while self.tags[i].key != 0 and self.tags[i].key != key:
            i = (i + 1) & (self.tag_slots - 1)
        return &self.tags[i]

    cdef long number(self, long parent, long depth) except -1:
        if self.count == self.room:
            self.room = self.room * 2 + 256
            self.parents = _grown(self.parents, self.room)
            self.depths = _grown(self.depths, self.room)
            self.ends = _grown(self.ends, self.room)
        self.parents[self.count] = parent
        self.depths[self.count] = depth
        self.ends[self.count] = self.count + 1
        self.count += 1
        return self.count - 1

    cdef int close(self, _Open block) except -1:
        cdef str joined
        if block.parts is not None and not block.closed:
            joined = self.empty.join(block.parts)
            if PyUnicode_KIND(joined) != PyUnicode_1BYTE_KIND:
                joined = self.nfc(joined)
            text = normalise_nfc(joined)
            if text:
                block.text = text
                block.closed = True
                if block.handle is None:  # as the Python walk has one node per element
                    block.handle = _element(
                        block.node, self.root_tag if block.node == self.root else block.tag,
                        self.parser,
                    )
                self.blocks.append(block)
        return 0


# What ``normalise.normalise_space`` does with a character after NFC: drops it (an
# invisible or control character of its ``_INVISIBLE``), reads it as white space
# (``str.split`` does), or keeps it; the Latin-1 ones are looked up.
DEF KEEP_CHARACTER = 0
DEF DROP_CHARACTER = 1
DEF SPACE_CHARACTER = 2
cdef unsigned char LATIN1_SPACING[256]
for _code in range(256):
    LATIN1_SPACING[_code] = (
        DROP_CHARACTER if _code <= 0x08 or 0x0e <= _code <= 0x1b or 0x7f <= _code <= 0x84
        or 0x86 <= _code <= 0x9f or _code == 0xad
        else SPACE_CHARACTER if chr(_code).isspace() else KEEP_CHARACTER
    )


cdef inline int _spacing(Py_UCS4 ch) noexcept:
    if ch < 256:
        return LATIN1_SPACING[ch]
    if ch == 0x200b or ch == 0x2060 or ch == 0xfeff:
        return DROP_CHARACTER
    return SPACE_CHARACTER if Py_UNICODE_ISSPACE(ch) else KEEP_CHARACTER


cdef void *_normalised = NULL  # normalise_nfc writes here
cdef size_t _normalised_room = 0


cpdef str normalise_nfc(str text):
    """``normalise.normalise_space`` of a ``text`` in NFC (a test holds the two alike):
    the invisible and control characters go, and the white space (as ``str.split``
    counts it) collapses. A text of Latin-1 characters only is in NFC: none of them
    is a combining mark or has a decomposition NFC would not compose back."""
    global _normalised, _normalised_room
    cdef Py_ssize_t length = len(text), i, size = 0
    cdef int kind = PyUnicode_KIND(text), spacing
    cdef const void *data = PyUnicode_DATA(text)
    cdef void *grown
    cdef Py_UCS4 ch
    cdef bint space = False
    if <size_t>(length * kind) >= _normalised_room:
        grown = realloc(_normalised, length * kind + 256)
        if grown == NULL:
            raise MemoryError()
        _normalised, _normalised_room = grown, length * kind + 256
    cdef uchar *latin1 = <uchar *>_normalised
    if kind == PyUnicode_1BYTE_KIND:  # the same, faster
        for i in range(length):
            ch = (<const uchar *>data)[i]
            spacing = LATIN1_SPACING[ch]
            if spacing == KEEP_CHARACTER:
                if space:
                    latin1[size] = 32
                    size += 1
                    space = False
                latin1[size] = ch
                size += 1
            elif spacing == SPACE_CHARACTER:
                space = size > 0
    else:
        for i in range(length):
            ch = PyUnicode_READ(kind, data, i)
            spacing = _spacing(ch)
            if spacing == KEEP_CHARACTER:
                if space:
                    PyUnicode_WRITE(kind, _normalised, size, 32)
                    size += 1
                    space = False
                PyUnicode_WRITE(kind, _normalised, size, ch)
                size += 1
            elif spacing == SPACE_CHARACTER:
                space = size > 0
    if size == length and memcmp(_normalised, data, size * kind) == 0:
        return text  # as it was
    return PyUnicode_FromKindAndData(kind, _normalised, size)


# How ``scraper.blocks`` counts a character in a text's sample: as ``\\d`` reads it
# (a digit), as ``[^\\w\\s]`` does (a mark), or neither; Python's ``re`` reads
# them as these character tests. The ASCII ones are looked up.
DEF OTHER_CHARACTER = 0
DEF DIGIT_CHARACTER = 1
DEF MARK_CHARACTER = 2


cdef inline int _character(Py_UCS4 ch) noexcept:
    if ch.isdecimal():
        return DIGIT_CHARACTER
    if not (ch.isalnum() or ch == u"_" or ch.isspace()):
        return MARK_CHARACTER
    return OTHER_CHARACTER


cdef unsigned char LATIN1_CHARACTERS[256]
for _code in range(256):
    LATIN1_CHARACTERS[_code] = _character(_code)

# The figures of ``block_figures``, in the order of ``scraper.blocks.FIGURES``.
DEF FIGURE_COUNT = 27
DEF MAX_SENTENCE_ENDS = 64


cdef inline object _group(dict groups, object key):
    """The number of ``key`` in ``groups``, a new one for a key not seen yet."""
    cdef PyObject *known = PyDict_GetItem(groups, key)
    if known != NULL:
        return <object>known
    number = len(groups)
    groups[key] = number
    return number


def block_figures(list blocks, dict tag_codes, long other_tag, tuple sentence_ends,
                  Py_ssize_t limit):
    """``scraper.blocks.python_block_figures(blocks)``: each block's figures, a row
    per figure (``scraper.blocks.FIGURES``) and a column per block, as the bytes of
    native 64-bit integers. ``tag_codes`` and ``other_tag`` code the tags,
    ``sentence_ends`` are the characters a sentence ends with and ``limit`` the
    characters of the sample whose marks and digits are counted."""
    cdef Py_ssize_t n = len(blocks), column, i, length, sample, count = len(sentence_ends)
    cdef Py_UCS4 ends[MAX_SENTENCE_ENDS]
    if count > MAX_SENTENCE_ENDS:
        raise ValueError(f"at most {MAX_SENTENCE_ENDS} sentence ends")
    for i in range(count):
        end = sentence_ends[i]
        if not isinstance(end, str) or len(end) != 1:
            raise ValueError(f"a sentence end is one character, not {end!r}")
        ends[i] = (<str>end)[0]
    cdef bytearray out = bytearray(FIGURE_COUNT * n * sizeof(long long))
    cdef long long *figures = <long long *><char *>out
    cdef long long *row
    cdef dict parents = {}, grandparents = {}, classes = {}, siblings = {}, texts = {}
    cdef str text
    cdef object context
    cdef int kind, character
    cdef void *data
    cdef const unsigned char *latin1
    cdef Py_UCS4 ch
    cdef long long marks, digits, spaces, commas
    cdef PyObject *known
    for column in range(n):
        block = blocks[column]
        context = block.context
        if not PyTuple_Check(context) or PyTuple_GET_SIZE(context) < 8:
            raise TypeError("a block's context is a tuple of its figures")
        text = block.text
        length = len(text)
        kind = PyUnicode_KIND(text)
        data = PyUnicode_DATA(text)
        sample = min(length, limit)
        marks = digits = spaces = commas = 0
        if kind == PyUnicode_1BYTE_KIND:
            latin1 = <const unsigned char *>data
            for i in range(length):
                spaces += latin1[i] == 32
                commas += latin1[i] == 44
            for i in range(sample):
                character = LATIN1_CHARACTERS[latin1[i]]
                digits += character == DIGIT_CHARACTER
                marks += character == MARK_CHARACTER
        else:
            for i in range(length):
                ch = PyUnicode_READ(kind, data, i)
                spaces += ch == 32
                commas += ch == 44
                if i < sample:
                    character = LATIN1_CHARACTERS[ch] if ch < 256 else _character(ch)
                    digits += character == DIGIT_CHARACTER
                    marks += character == MARK_CHARACTER
        known = PyDict_GetItem(tag_codes, block.tag)
        row = figures + column
        row[0] = length
        row[n] = <object>known if known != NULL else other_tag
        row[2 * n] = block.link_chars
        row[3 * n] = block.links
        for i in range(5):  # depth, flags, verdict, chrome_depth, kinds
            row[(4 + i) * n] = <object>PyTuple_GET_ITEM(context, i)
        row[9 * n] = block.own_verdict
        row[10 * n] = block.own_kinds
        row[11 * n] = <object>PyTuple_GET_ITEM(context, 5)  # path
        parent_id = <object>PyTuple_GET_ITEM(context, 6)
        grandparent_id = <object>PyTuple_GET_ITEM(context, 7)
        parent = _group(parents, parent_id)
        row[12 * n] = parent
        row[13 * n] = _group(grandparents, grandparent_id)
        row[14 * n] = block.element
        row[15 * n] = spaces
        row[16 * n] = commas
        ch = PyUnicode_READ(kind, data, length - 1) if length else 0
        row[17 * n] = False
        if length:
            for i in range(count):
                if ends[i] == ch:
                    row[17 * n] = True
                    break
        ch = PyUnicode_READ(kind, data, 0) if length else 0
        row[18 * n] = ch.isupper()
        row[19 * n] = marks
        row[20 * n] = digits
        class_name = block.class_name
        kind_of_block = _group(classes, (block.tag, class_name))
        row[21 * n] = kind_of_block
        row[22 * n] = len(class_name) > 0
        row[23 * n] = _group(siblings, (parent, kind_of_block))
        row[24 * n] = _group(texts, text)
        row[25 * n] = parent_id
        row[26 * n] = grandparent_id
    return out


def best_path(const double[:] gain, double switch_cost):
    """``scraper.blocks.python_best_path(gain, switch_cost)``: the most likely in/out
    sequence, with the same operations on the same doubles."""
    cdef Py_ssize_t n = gain.shape[0], i
    if n == 0:
        return []
    # for each block, the state before it on the best path into "in" / "out" there
    cdef bytearray came = bytearray(2 * n)
    cdef unsigned char *into = <unsigned char *>came
    cdef double score_in = gain[0], score_out = 0.0, enter, leave
    for i in range(1, n):
        enter = score_out - switch_cost
        leave = score_in - switch_cost
        into[2 * i] = score_in >= enter
        into[2 * i + 1] = leave > score_out
        score_in = (enter if enter > score_in else score_in) + gain[i]  # max() as Python's
        score_out = leave if leave > score_out else score_out
    cdef bint state = score_in > score_out
    cdef list path = [False] * n
    for i in range(n - 1, -1, -1):
        path[i] = state
        if i:
            state = into[2 * i] if state else into[2 * i + 1]
    return path


cdef unsigned char LATIN1_WORD[256]  # whether ``\\w`` matches each Latin-1 character
for _code in range(256):
    LATIN1_WORD[_code] = (<Py_UCS4>_code).isalnum() or _code == 95


cdef inline bint _in_word(Py_UCS4 ch) noexcept:
    """Whether ``\\w`` matches ``ch``, as Python's ``re`` tests it."""
    return LATIN1_WORD[ch] if ch < 256 else ch.isalnum()


def word_ids(texts, dict ids, long long missing, bint add=False):
    """``scraper.blocks.python_word_ids(texts, ids, missing, add)``: the words of each
    text in lower case (``\\w+``, as ``re`` finds them) as their numbers in ``ids``
    (``missing`` for a word not in it; with ``add``, a new word is given the next
    number), as the bytes of native 64-bit integers, and how many words each text has."""
    cdef Py_ssize_t n = len(texts), t, i, start, length, used = 0, room = 0
    cdef bytearray counts = bytearray(n * sizeof(long long))
    cdef long long *count = <long long *><char *>counts
    cdef long long *numbers = NULL
    cdef long long *grown
    cdef str lowered, word
    cdef int kind
    cdef void *data
    cdef PyObject *known
    try:
        for t in range(n):
            lowered = texts[t].lower()
            length = len(lowered)
            if used + (length + 1) // 2 >= room:  # a text holds a word in 2 characters at most
                room = 2 * room + length + 16
                grown = <long long *>realloc(numbers, room * sizeof(long long))
                if grown == NULL:
                    raise MemoryError()
                numbers = grown
            kind = PyUnicode_KIND(lowered)
            data = PyUnicode_DATA(lowered)
            start = -1
            for i in range(length + 1):
                if i < length and _in_word(PyUnicode_READ(kind, data, i)):
                    if start < 0:
                        start = i
                elif start >= 0:
                    word = lowered[start:i]
                    known = PyDict_GetItem(ids, word)
                    if known != NULL:
                        numbers[used] = <long long><object>known
                    elif add:
                        numbers[used] = len(ids)
                        ids[word] = numbers[used]
                    else:
                        numbers[used] = missing
                    used += 1
                    count[t] += 1
                    start = -1
        return (<char *>numbers)[:used * sizeof(long long)], counts
    finally:
        free(numbers)


DEF KNOWN_IDS = 256  # lexbor's tag ids of the common HTML tags lie below


cdef struct KnownNames:
    const uchar *names[KNOWN_IDS]  # by tag id: the name last looked up ...
    bint answers[KNOWN_IDS]  # ... and the answer for it


cdef inline bint _named(void *node, dict names, set wanted, KnownNames *known) except -1:
    """Whether ``node`` is an element whose tag (its qualified name) is in ``wanted``;
    ``names`` keeps the answer by the name's pointer (lexbor keeps one per name), and
    ``known`` by tag id, for the last name of that id (no number is made for it)."""
    cdef size_t length, id
    cdef const uchar *name
    if type_of(node) != NODE_ELEMENT:
        return False
    name = element_name_of(node, &length)
    if name == NULL:
        return False
    id = tag_id_of(node)
    if id < KNOWN_IDS and known.names[id] == name:
        return known.answers[id]
    cdef PyObject *seen = PyDict_GetItem(names, <size_t>name)
    if seen != NULL:
        found = <object>seen is True
    else:
        found = _decode(name, length) in wanted
        PyDict_SetItem(names, <size_t>name, found)
    if id < KNOWN_IDS:
        known.names[id] = name
        known.answers[id] = found
    return found


DEF MAX_NEEDLES = 128


def _cases(byte, fold):
    """A byte, and its capital too where it is a small letter and case does not count."""
    return (byte, byte - 32) if fold and 97 <= byte <= 122 else (byte,)


cdef class _Needles:
    """What ``text_lines`` looks for in a text's bytes before it decodes it: ASCII
    ``words`` in either case, and the characters of ``marks`` as they are (their UTF-8
    bytes). Each is filed under its first byte (a word under both cases of it), and
    only a byte and the next that begin one are looked at closely."""

    cdef bytes data  # every needle's bytes, one after another
    cdef Py_ssize_t offsets[MAX_NEEDLES]
    cdef size_t lengths[MAX_NEEDLES]
    cdef bint folds[MAX_NEEDLES]
    cdef int first[256]  # by first byte: where its needles start, and how many
    cdef int count[256]
    cdef bint single[256]  # a needle of this one byte
    cdef unsigned char pairs[256][32]  # by first byte, a bit for each second byte

    def __init__(self, words, str marks):
        filed = []
        for word in words:
            data = word.encode("ascii")
            if not data or data != data.lower():
                raise ValueError(f"not a lower-case ASCII word: {word!r}")
            filed.extend((first, data, True) for first in _cases(data[0], True))
        for mark in marks:
            data = mark.encode("utf-8")
            if len(data) < 2:
                raise ValueError(f"not a character outside ASCII: {mark!r}")
            filed.append((data[0], data, False))
        if len(filed) > MAX_NEEDLES:
            raise ValueError(f"at most {MAX_NEEDLES} needles")
        filed.sort()
        self.data = b"".join(data for _, data, _ in filed)
        cdef Py_ssize_t i, offset = 0
        for i in range(256):
            self.first[i] = self.count[i] = 0
        for i, (byte, data, fold) in enumerate(filed):
            if self.count[byte] == 0:
                self.first[byte] = i
            self.count[byte] += 1
            if len(data) == 1:
                self.single[byte] = True
            for second in _cases(data[1], fold) if len(data) > 1 else ():
                self.pairs[byte][second >> 3] |= 1 << (second & 7)
            self.offsets[i] = offset
            self.lengths[i] = len(data)
            self.folds[i] = fold
            offset += len(data)

    cdef bint found(self, const uchar *text, size_t size) noexcept:
        cdef const uchar *data = self.data
        cdef const uchar *needle
        cdef size_t i, k, length
        cdef int j, end
        cdef uchar c, d
        for i in range(size):
            c = text[i]
            if self.single[c]:
                return True
            d = text[i + 1] if i + 1 < size else 0
            if not self.pairs[c][d >> 3] >> (d & 7) & 1:
                continue
            end = self.first[c] + self.count[c]
            for j in range(self.first[c], end):
                length = self.lengths[j]
                if length > size - i:
                    continue
                needle = data + self.offsets[j]
                if not self.folds[j]:
                    if memcmp(text + i, needle, length) == 0:
                        return True
                    continue
                for k in range(1, length):  # the first byte matched in either case
                    if _lower(text[i + k]) != needle[k]:
                        break
                else:
                    return True
        return False


cdef object _text(void *element, void *document, bytearray buffer, size_t limit,
                  _Needles needles):
    """``node.text(deep=True, separator=" ")`` of ``element`` as selectolax gives it:
    the data of the text nodes under it, in document order, a space between two; None
    where its bytes already say it is longer than ``limit`` characters (one takes four
    bytes at most, and an undecodable byte becomes one character), or hold none of
    ``needles`` (if any)."""
    cdef void *node = first_child_of(element)
    cdef void *below
    cdef uchar *data
    cdef size_t length, size = 0
    cdef bint first = True, copied
    del buffer[:]
    while node != NULL:
        if tag_id_of(node) == TAG_TEXT:
            if type_of(node) == NODE_TEXT:
                data = _text_data(node, &length, &copied)
            else:  # not a text node: read through lexbor's accessor only
                data = text_of(node, &length)
                copied = True
            if data != NULL:
                if not first:
                    buffer.append(32)
                first = False
                buffer.extend((<char *>data)[:length])
                if copied:
                    free_text(document, data)
                size = len(buffer)
                if size > 4 * limit:
                    return None
        below = first_child_of(node)
        if below != NULL:
            node = below
            continue
        while node != element and next_of(node) == NULL:
            node = parent_of(node)
        node = NULL if node == element else next_of(node)
    if needles is not None and not needles.found(<const uchar *><char *>buffer, size):
        return None
    text = PyUnicode_DecodeUTF8(buffer, size, "replace")
    return text if <size_t>len(text) <= limit else None


cdef dict _needles = {}


def text_lines(root, tags, children, Py_ssize_t limit, words=None, str marks=""):
    """For each element of ``root``'s subtree, ``root`` included, in document order,
    whose tag is one of ``tags`` and whose children are text or elements with a tag
    among ``children``: its ``mem_id`` and its text (``node.text(deep=True,
    separator=" ")``), where that text is not empty and at most ``limit`` characters
    long, and, when ``words`` are given, holds one of them (lower-case ASCII words,
    found in either case) or a character of ``marks`` (characters outside ASCII)."""
    cdef size_t root_pointer = root.mem_id
    if root_pointer == 0:
        raise ValueError("no node")
    if limit < 0:
        raise ValueError("a negative limit")
    cdef set line_tags = set(tags), child_tags = set(children)
    cdef dict line_names = {}, child_names = {}
    cdef KnownNames line_known, child_known
    memset(&line_known, 0, sizeof(KnownNames))
    memset(&child_known, 0, sizeof(KnownNames))
    cdef void *document = <void *>root_pointer
    while document != NULL and type_of(document) != NODE_DOCUMENT:
        document = parent_of(document)
    cdef _Needles needles = None
    if words is not None:
        key = (tuple(words), marks)
        needles = _needles.get(key)
        if needles is None:
            needles = _needles[key] = _Needles(key[0], marks)
    cdef bytearray buffer = bytearray()
    cdef list found = []
    cdef void *node = <void *>root_pointer
    cdef void *child
    cdef void *below
    cdef bint plain
    while node != NULL:
        if _named(node, line_names, line_tags, &line_known):
            plain = True
            child = first_child_of(node)
            while child != NULL and plain:
                plain = type_of(child) == NODE_TEXT or _named(child, child_names, child_tags, &child_known)
                child = next_of(child)
            if plain:
                text = _text(node, document, buffer, limit, needles)
                if text:
                    found.append((<size_t>node, text))
        below = first_child_of(node)
        if below != NULL:
            node = below
            continue
        while node != <void *>root_pointer and next_of(node) == NULL:
            node = parent_of(node)
        node = NULL if node == <void *>root_pointer else next_of(node)
    return found


cdef long *_grown(long *array, Py_ssize_t size) except NULL:
    cdef long *grown = <long *>realloc(array, size * sizeof(long))
    if grown == NULL:
        raise MemoryError()
    return grown


cdef inline bint _ends_in_space(str text):
    cdef Py_ssize_t n = len(text)
    return n > 0 and (<Py_UCS4>text[n - 1]).isspace()


cdef inline Py_ssize_t _stripped_length(str text):
    """``len(text.strip())``."""
    cdef Py_ssize_t start = 0, end = len(text)
    while start < end and (<Py_UCS4>text[start]).isspace():
        start += 1
    while end > start and (<Py_UCS4>text[end - 1]).isspace():
        end -= 1
    return end - start


cdef inline int _ascii_space(const uchar *data, size_t length) noexcept nogil:
    """1 when ``data`` is all ASCII white space (as ``str.isspace`` counts it), 0 when
    it holds an ASCII character that is not, -1 when only its decoded text can tell
    (it holds other characters)."""
    cdef size_t i
    cdef int unsure = 0
    cdef uchar c
    for i in range(length):
        c = data[i]
        if c >= 128:
            unsure = 1
        elif not (c == 32 or 9 <= c <= 13 or 28 <= c <= 31):
            return 0
    return -1 if unsure else 1


cdef inline bint _all_space(str text):
    cdef Py_UCS4 ch
    for ch in text:
        if not ch.isspace():
            return False
    return len(text) > 0


cdef long _judged_attributes(void *node, Py_ssize_t count, const char **names,
                             size_t *name_lengths, const uchar **values,
                             size_t *value_lengths) noexcept:
    """The judged attributes ``node`` has, as bits of their slots; their values put
    in their slots."""
    cdef void *attribute = first_attribute_of(node) if type_of(node) == NODE_ELEMENT else NULL
    cdef const uchar *name
    cdef size_t length
    cdef Py_ssize_t i
    cdef long mask = 0
    while attribute != NULL:
        name = attribute_name_of(attribute, &length)
        for i in range(count):
            if name_lengths[i] == length and memcmp(name, names[i], length) == 0:
                values[i] = attribute_value_of(attribute, &value_lengths[i])
                mask |= 1 << i
                break
        attribute = next_attribute_of(attribute)
    return mask


def segment(root, tag_kind, Vocabulary vocabulary, nfc, make_block, type context_type,
            long hidden_flag, long path_base, long path_buckets):
    """``scraper.blocks.segment`` on ``root`` (a LexborNode): the text blocks and the
    block-level elements, as ``(blocks, parents, depths, ends, verdicts)``. The
    callables are those of ``scraper.blocks``: ``tag_kind(tag) -> (kind, flag, code)``,
    ``make_block`` makes a block, of a context of ``context_type`` (a tuple's
    subclass without fields of its own, made here as ``tuple.__new__`` makes it,
    without its ``__new__``); ``nfc`` gives a text in NFC
    (before ``normalise_nfc``, for a text with characters beyond Latin-1); ``vocabulary``
    judges the attributes of each element.
    The numbers are the walk's constants: the flag of a hidden element, and the base
    and modulus of the hash of the tags above an element."""
    cdef size_t root_pointer = root.mem_id
    if root_pointer == 0:
        raise ValueError("no node")
    parser = root.parser
    cdef void *document = <void *>root_pointer
    while document != NULL and type_of(document) != NODE_DOCUMENT:
        document = parent_of(document)

    cdef list keys = [key.encode("utf-8") for key in vocabulary.judged]
    cdef const char *judged_names[MAX_JUDGED]
    cdef size_t judged_lengths[MAX_JUDGED]
    cdef const uchar *values[MAX_JUDGED]
    cdef size_t value_lengths[MAX_JUDGED]
    cdef Py_ssize_t judged_count = len(keys), class_slot = vocabulary.class_slot, i
    for i in range(judged_count):
        judged_names[i] = <bytes>keys[i]
        judged_lengths[i] = len(<bytes>keys[i])
    cdef long mask

    cdef _Walk walk = _Walk.__new__(_Walk)
    walk.blocks = []
    walk.verdicts = {}
    walk.tag_names = []
    walk.nfc = nfc
    walk.empty = ""
    cdef Context zero
    zero.depth = zero.flags = zero.verdict = zero.chrome_depth = zero.kinds = zero.path = 0
    zero.parent = zero.grandparent = 0
    zero.number = 0
    walk.number(-1, 0)
    walk.root, walk.root_tag, walk.parser = root_pointer, root.tag, parser
    cdef _Open current = _open(root_pointer, walk.root_tag or "body", zero, 0, 0, "", 0)
    walk.push(first_child_of(<void *>root_pointer), zero, False, -1, current)

    cdef Frame *frame
    cdef void *node
    cdef size_t tag_id, length
    cdef long number, flag, code, verdict, kinds, child
    cdef int kind, space
    cdef bint in_link, hidden, copied
    cdef uchar *data
    cdef const uchar *name
    cdef Context context, inner
    cdef Tag *reading
    cdef str text
    verdicts = walk.verdicts

    while walk.depth:
        frame = &walk.frames[walk.depth - 1]
        node = frame.next
        if node == NULL:  # the element's children are all read: it ends
            number = frame.number
            walk.pop()
            if number >= 0:
                walk.ends[number] = walk.count
                walk.close(current)
                current = walk.owner()
            continue
        frame.next = next_of(node)
        tag_id = tag_id_of(node)
        if tag_id == TAG_TEXT:
            if type_of(node) != NODE_TEXT:
                continue
            data = _text_data(node, &length, &copied)
            if data == NULL:
                continue
            if length == 0:
                if copied:
                    free_text(document, data)
                continue
            space = _ascii_space(data, length)
            text = _decode(data, length) if space != 1 else None
            if copied:
                free_text(document, data)
            if space == -1:
                space = _all_space(text)
            if space:  # between two inline elements it parts two words
                if current.parts is not None and not current.closed and not current.last_space:
                    current.parts.append(" ")
                    current.last_space = True
                    current.last_break = False
                continue
            if current.closed:  # its element's text goes on in a new block
                current = current.continued()
            current.add(text)
            current.last_space = _ends_in_space(text)
            current.last_break = False
            if frame.in_link:
                current.link_chars += _stripped_length(text)
            continue
        if tag_id == TAG_COMMENT:
            continue
        if tag_id == TAG_DOCUMENT or tag_id == TAG_DOCTYPE:
            name = NULL
        elif type_of(node) != NODE_ELEMENT:
            continue
        else:
            name = element_name_of(node, &length)
            if name == NULL:
                continue
        reading = walk.tag(<size_t>name if name != NULL else tag_id, name, length, tag_kind)
        kind = reading.kind
        if kind == KIND_SKIP:
            continue
        tag, flag, code = <object>reading.tag, reading.flag, reading.code
        mask = _judged_attributes(node, judged_count, judged_names, judged_lengths, values,
                                  value_lengths)
        if kind != KIND_BLOCK:  # judged for clean.py only
            if mask:
                vocabulary.verdict(values, value_lengths, mask, &verdict, &kinds)
            verdicts[<size_t>node] = verdict if mask else 0
            if kind == KIND_BREAK:
                if current.last_break and not current.closed:
                    walk.close(current)  # two line breaks end a paragraph
                elif not current.closed:
                    current.add("\n")
                    current.last_space = current.last_break = True
                continue
            if kind == KIND_LINK:
                current.links += 1
            in_link = frame.in_link or kind == KIND_LINK
            context = frame.context
            walk.push(first_child_of(node), context, in_link, -1, walk.owner())
            continue
        context = frame.context
        if mask == 0:
            verdict = kinds = 0
            class_name = ""
            hidden = False
        else:
            vocabulary.judge(values, value_lengths, mask, &verdict, &kinds, &hidden)
            if mask & (1 << class_slot) and values[class_slot] != NULL:
                class_name = _decode(values[class_slot], value_lengths[class_slot])
            else:
                class_name = ""
        verdicts[<size_t>node] = verdict
        child = walk.number(context.number, context.depth + 1)
        inner.depth = context.depth + 1
        inner.flags = context.flags | flag | (hidden_flag if hidden else 0)
        inner.verdict = verdict if verdict > context.verdict else context.verdict
        inner.chrome_depth = context.chrome_depth + (verdict > 0)
        inner.kinds = context.kinds | kinds
        inner.path = (context.path * path_base + code) % path_buckets
        inner.parent = <size_t>node
        inner.grandparent = context.parent
        inner.number = child
        walk.close(current)
        current = _open(<size_t>node, tag, context, verdict, kinds, class_name, child)
        walk.push(first_child_of(node), inner, False, child, current)
    walk.close(current)
    walk.ends[0] = walk.count

    blocks = []
    for item in walk.blocks:
        current = <_Open>item
        blocks.append(
            make_block(
                current.handle,
                current.tag,
                _context(context_type, &current.context),
                current.own_verdict,
                current.own_kinds,
                current.class_name,
                current.element,
                current.parts,
                current.link_chars,
                current.links,
                current.text,
            )
        )
    parents = [walk.parents[i] for i in range(walk.count)]
    depths = [walk.depths[i] for i in range(walk.count)]
    ends = [walk.ends[i] for i in range(walk.count)]
    return blocks, parents, depths, ends, walk.verdicts


# --- the state walk of scraper.embedded -------------------------------------------


def state_runs(data, Py_ssize_t budget, int max_depth, frozenset body_keys,
               frozenset skip_keys, frozenset text_keys, tuple title_keys, key, prose,
               unique, normalise, make_run):
    """``scraper.embedded.runs`` of ``data`` (a parsed state script): every body-like
    value (references followed) as a run of prose-like strings, in document order,
    visiting at most ``budget`` values and ``max_depth`` levels. The callables are
    those of scraper.embedded: ``key`` normalises a key, ``prose`` tells a prose-like
    string, ``unique`` drops repeated pieces, ``normalise`` a title's spaces, and
    ``make_run(pieces, title, chars)`` makes a run."""
    cdef _StateWalk walk = _StateWalk.__new__(_StateWalk)
    walk.budget = budget
    walk.max_depth = max_depth
    walk.root = data if isinstance(data, dict) else None
    walk.body_keys, walk.skip_keys, walk.text_keys = body_keys, skip_keys, text_keys
    walk.title_keys = title_keys
    walk.key, walk.prose, walk.unique, walk.normalise = key, prose, unique, normalise
    walk.make_run = make_run
    walk.keys = {}
    walk.found = []
    walk.visit(data, 0, None, set())
    return walk.found


cdef class _StateWalk:
    """One walk of a state: ``embedded._walk`` and ``embedded._pieces``, the budget of
    values shared by both."""

    cdef Py_ssize_t budget
    cdef int max_depth
    cdef dict root  # the references' cache (None where the state is no object)
    cdef frozenset body_keys, skip_keys, text_keys
    cdef tuple title_keys
    cdef object key, prose, unique, normalise, make_run
    cdef dict keys  # each key as ``key`` normalises it
    cdef list found

    cdef object key_of(self, object name):
        cdef object found = self.keys.get(name)
        if found is None:
            found = self.keys[name] = self.key(name)
        return found

    cdef object target_of(self, dict value):
        """What an Apollo reference points to (``embedded._ref``)."""
        if self.root is None:
            return None
        target = value.get("__ref")
        if target is None and value.get("type") == "id" and "generated" in value:
            target = value.get("id")
        return self.root.get(target) if isinstance(target, str) else None

    cdef int visit(self, object value, int depth, object title, set followed) except -1:
        cdef Py_ssize_t chars
        self.budget -= 1
        if self.budget <= 0 or depth > self.max_depth:
            return 0
        if isinstance(value, dict):
            target = self.target_of(<dict>value)
            if target is not None:
                if id(target) not in followed:
                    followed.add(id(target))
                    self.visit(target, depth + 1, title, followed)
                return 0
            for name in self.title_keys:
                text = (<dict>value).get(name)
                if isinstance(text, str) and text.strip():
                    title = self.normalise(text) or title
                    break
            for name, item in (<dict>value).items():
                name = self.key_of(name)
                if name in self.body_keys:
                    pieces = self.unique(self.pieces(item))
                    if pieces:
                        chars = 0
                        for piece in pieces:
                            chars += len(piece)
                        self.found.append(self.make_run(pieces, title, chars))
                if name not in self.skip_keys:
                    if isinstance(item, (dict, list)):
                        self.visit(item, depth + 1, title, followed)
                    else:
                        self.budget -= 1  # a scalar: visited, with nothing under it
        elif isinstance(value, list):
            for item in <list>value:
                if isinstance(item, (dict, list)):
                    self.visit(item, depth + 1, title, followed)
                else:
                    self.budget -= 1
        return 0

    cdef list pieces(self, object value):
        cdef list found = []
        cdef set followed = set()
        cdef list stack = [(value, True, 0)], children
        cdef bint textual
        cdef int depth
        while stack:
            item, textual, depth = stack.pop()
            self.budget -= 1
            if self.budget <= 0 or depth > self.max_depth:
                break
            if isinstance(item, str):
                if textual and self.prose(item):
                    found.append(item)
            elif isinstance(item, list):
                stack.extend([(v, textual, depth + 1) for v in reversed(<list>item)])
            elif isinstance(item, dict):
                target = self.target_of(<dict>item)
                if target is not None:
                    if id(target) not in followed and target is not value:
                        followed.add(id(target))
                        stack.append((target, textual, depth + 1))
                    continue
                children = []
                for name, child in (<dict>item).items():
                    name = self.key_of(name)
                    if name not in self.skip_keys:
                        children.append((child, name in self.text_keys, depth + 1))
                children.reverse()
                stack.extend(children)
        return found
