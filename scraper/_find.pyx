# cython: language_level=3, boundscheck=False, wraparound=False
"""The element finder of ``scraper.find``, compiled: the elements under a node that
match a few simple selectors, found by one walk of lexbor's tree in C and returned as
selectolax's own ``LexborNode`` objects, in the order lexbor's ``css`` gives them.

Like ``scraper._walk`` it reads the tree through the accessor functions selectolax's
extension exports (looked up with ``dlsym``; every node an opaque pointer). It also
writes two fields of a new ``LexborNode`` (its node pointer and its parser) and reads
an element's namespace, through layouts this module declares itself: both are checked
on a probe page when the module is imported, and a symbol missing or a check failing
makes the import fail, so that ``scraper.find`` uses lexbor's queries instead.
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memset


from ._lexbor cimport (
    name_fn, node_fn, selectolax_library, symbol, tag_id_fn, type_fn, uchar
)

# lexbor's node type of an element and namespace id of HTML (lexbor/dom/interfaces/
# node.h, lexbor/ns/const.h)
DEF NODE_ELEMENT = 0x01
DEF NODE_TEXT = 0x03
DEF TAG_TEXT = 0x02  # lexbor's tag id of a text node (LXB_TAG__TEXT)
DEF NS_HTML = 0x02
DEF NS_MATH = 0x03
DEF NS_SVG = 0x04
# Tag ids below this are lexbor's static ones, the same in every document; the others
# are addresses in a document's own table of names.
DEF STATIC_IDS = 1024

# What an attribute test asks (``scraper.find`` parses selectors into these).
DEF ATTRIBUTE_ANY = 0  # no attribute test
DEF ATTRIBUTE_PRESENT = 1  # [name]
DEF ATTRIBUTE_EQUAL = 2  # [name=value]
DEF ATTRIBUTE_CONTAINS = 3  # [name*=value]
# How a value is compared: as lexbor does, case-sensitively, ASCII case-insensitively
# (the "i" modifier), or case-insensitively on HTML elements only (the attributes
# HTML lists as case-insensitive, such as ``type`` and ``rel``).
DEF CASE_SENSITIVE = 0
DEF CASE_INSENSITIVE = 1
DEF CASE_INSENSITIVE_IN_HTML = 2

cdef tag_id_fn tag_id_of
cdef node_fn first_child_of, next_of, parent_of, first_attribute_of, next_attribute_of
cdef type_fn type_of
cdef name_fn local_name_of, attribute_local_name_of, attribute_value_of, attribute_name_of


# A LexborNode as selectolax declares it (selectolax/lexbor.pxd): the object head,
# Cython's table of methods, the node, the parser and two flags.
ctypedef struct NodeObject:
    Py_ssize_t ob_refcnt
    PyTypeObject *ob_type
    void *vtable
    void *node
    PyObject *parser
    int is_fragment_root
    int is_template_content

# lexbor's lxb_dom_node_t, lxb_dom_element_t, lxb_dom_attr_t and lexbor_str_t as far
# as they are read (lexbor/dom/interfaces/node.h, element.h, attr.h, core/str.h).
ctypedef struct Node:
    void *events
    uintptr_t local_name
    uintptr_t prefix
    uintptr_t ns
    void *owner_document
    Node *next
    Node *prev
    Node *parent
    Node *first_child
    Node *last_child
    void *user
    int type

ctypedef struct Str:
    uchar *data
    size_t length

ctypedef struct CharacterData:  # lexbor's lxb_dom_character_data_t (a text node)
    Node node
    Str data

ctypedef struct Element:
    Node node
    uintptr_t upper_name
    uintptr_t qualified_name
    void *is_value
    void *first_attribute

ctypedef struct Attribute:
    Node node
    uintptr_t upper_name
    uintptr_t qualified_name
    Str *value
    void *owner
    void *next


cdef object LexborNode
cdef PyTypeObject *node_type
cdef tuple NO_ARGUMENTS = ()


def _bind():
    global tag_id_of, first_child_of, next_of, parent_of, first_attribute_of
    global next_attribute_of, type_of, local_name_of, attribute_local_name_of
    global attribute_value_of, attribute_name_of, LexborNode, node_type
    import selectolax.lexbor

    cdef void *library = selectolax_library()
    tag_id_of = <tag_id_fn>symbol(library, b"lxb_dom_node_tag_id_noi")
    first_child_of = <node_fn>symbol(library, b"lxb_dom_node_first_child_noi")
    next_of = <node_fn>symbol(library, b"lxb_dom_node_next_noi")
    parent_of = <node_fn>symbol(library, b"lxb_dom_node_parent_noi")
    type_of = <type_fn>symbol(library, b"lxb_dom_node_type_noi")
    local_name_of = <name_fn>symbol(library, b"lxb_dom_element_local_name")
    first_attribute_of = <node_fn>symbol(library, b"lxb_dom_element_first_attribute_noi")
    next_attribute_of = <node_fn>symbol(library, b"lxb_dom_element_next_attribute_noi")
    attribute_local_name_of = <name_fn>symbol(library, b"lxb_dom_attr_local_name_noi")
    attribute_value_of = <name_fn>symbol(library, b"lxb_dom_attr_value_noi")
    attribute_name_of = <name_fn>symbol(library, b"lxb_dom_attr_qualified_name")
    LexborNode = selectolax.lexbor.LexborNode
    node_type = <PyTypeObject *>LexborNode


cdef object _node(void *pointer, object parser):
    """A LexborNode for ``pointer``, as selectolax's ``LexborNode.new`` makes it."""
    cdef object made = node_type.tp_new(LexborNode, <PyObject *>NO_ARGUMENTS, NULL)
    cdef NodeObject *raw = <NodeObject *><PyObject *>made
    cdef PyObject *old = raw.parser
    Py_INCREF(parser)
    raw.parser = <PyObject *>parser
    Py_XDECREF(old)
    raw.node = pointer
    raw.is_fragment_root = 0
    raw.is_template_content = 0
    return made


cdef inline uchar _lower(uchar c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint _equal(const uchar *data, size_t length, const uchar *wanted, size_t size,
                 bint fold) noexcept nogil:
    cdef size_t i
    if length != size:
        return False
    if not fold:
        return memcmp(data, wanted, size) == 0
    for i in range(size):
        if _lower(data[i]) != _lower(wanted[i]):
            return False
    return True


cdef void _fold(const uchar *data, size_t length, uchar *into) noexcept nogil:
    cdef size_t i
    for i in range(length):
        into[i] = _lower(data[i])


cdef bint _contains(const uchar *data, size_t length, const uchar *wanted, size_t size,
                    bint fold) noexcept nogil:
    # values and words are short: a plain scan beats memmem's setting up
    cdef size_t start, i
    cdef uchar head
    if size == 0 or length < size:
        return False
    head = _lower(wanted[0]) if fold else wanted[0]
    for start in range(length - size + 1):
        if fold:
            if _lower(data[start]) != head:
                continue
            for i in range(1, size):
                if _lower(data[start + i]) != _lower(wanted[i]):
                    break
            else:
                return True
        elif data[start] == head and memcmp(data + start + 1, wanted + 1, size - 1) == 0:
            return True
    return False


DEF MAX_NAMES = 32  # attribute names a query reads
DEF FOLDED = 256  # values up to this length are lower-cased once for "i" substrings
DEF DYNAMIC_IDS = 128  # slots of the table of names outside lexbor's static one
DEF DYNAMIC_FULL = 96  # such names a walk remembers (the table's slots filled)
DEF MAX_SCANNED = 64  # "i" substrings of a query looked for in one pass over a value
DEF MAX_TURNS = 8  # attributes a query scans so


cdef class Compound:
    """One selector of a list: a tag among ``tags`` (any when None), an attribute
    test, and an ``ancestor`` compound one of the element's ancestors must match (the
    descendant combinator), if any."""

    cdef frozenset tags
    cdef uchar known[STATIC_IDS]  # by static tag id: 0 not read yet, 1 no, 2 yes
    cdef bytes attribute
    cdef int test
    cdef bytes value
    cdef int case
    cdef Compound ancestor
    cdef int slot  # the attribute's place among its query's names
    cdef bytes folded  # the value in ASCII lower case, for the "i" modifier

    def __init__(self, tags, attribute, int test, value, int case, Compound ancestor=None):
        self.tags = frozenset(t.lower().encode() for t in tags) if tags is not None else None
        self.attribute = attribute.lower().encode() if attribute is not None else None
        self.test = test
        self.value = value.encode() if value is not None else None
        self.folded = bytes(_lower(c) for c in self.value) if value is not None else None
        self.case = case
        self.ancestor = ancestor
        if (test == ATTRIBUTE_ANY) != (attribute is None):
            raise ValueError("an attribute test needs an attribute, and only it")
        if (test in (ATTRIBUTE_EQUAL, ATTRIBUTE_CONTAINS)) != (value is not None):
            raise ValueError("a value is compared by = and *= only")

    cdef bint tag_matches(self, void *node) except -1:
        cdef size_t tag = (<Node *>node).local_name, length = 0
        cdef const uchar *name
        if tag < STATIC_IDS and self.known[tag]:
            return self.known[tag] == 2
        name = local_name_of(node, &length)
        found = name != NULL and (<bytes>name[:length]).lower() in self.tags
        if tag < STATIC_IDS:
            self.known[tag] = 2 if found else 1
        return found

    cdef bint matches(self, void *node, Attributes *read, Query query) except -1:
        cdef void *parent
        cdef const uchar *value
        cdef size_t value_length
        cdef bint fold
        if self.tags is not None and not self.tag_matches(node):
            return False
        if self.test != ATTRIBUTE_ANY:
            if read.node != node:
                query.read(node, read)
            if not read.present[self.slot]:
                return False
            if self.test != ATTRIBUTE_PRESENT:
                value = read.values[self.slot]
                value_length = read.lengths[self.slot]
                fold = self.case == CASE_INSENSITIVE or (
                    self.case == CASE_INSENSITIVE_IN_HTML and (<Node *>node).ns == NS_HTML
                )
                if self.test == ATTRIBUTE_EQUAL:
                    if not _equal(value, value_length, <const uchar *>self.value,
                                  len(self.value), fold):
                        return False
                elif fold and value_length <= FOLDED:
                    # the value lower-cased once for all the query's substrings
                    if not read.folded_ready[self.slot]:
                        _fold(value, value_length, read.folded[self.slot])
                        read.folded_ready[self.slot] = True
                    if not _contains(read.folded[self.slot], value_length,
                                     <const uchar *>self.folded, len(self.folded), False):
                        return False
                elif not _contains(value, value_length, <const uchar *>self.value,
                                   len(self.value), fold):
                    return False
        if self.ancestor is not None:
            parent = (<Node *>node).parent
            while parent != NULL:
                if (<Node *>parent).type == NODE_ELEMENT and self.ancestor.matches(
                    parent, read, query
                ):
                    return True
                parent = (<Node *>parent).parent
            return False
        return True


cdef struct Attributes:
    void *node  # the element they were read of (NULL: none yet)
    bint present[MAX_NAMES]
    bint folded_ready[MAX_NAMES]
    uchar folded[MAX_NAMES][FOLDED]
    const uchar *values[MAX_NAMES]
    size_t lengths[MAX_NAMES]
    # the ids of this document's own names seen (0: a free slot), hashed, and their
    # places among the query's names
    size_t dynamic_ids[DYNAMIC_IDS]
    int dynamic_slots[DYNAMIC_IDS]
    int dynamic_count


cdef class Query:
    """A list of selectors, each a ``Compound``, and the attribute names they read."""

    cdef tuple compounds
    cdef tuple by_tag  # the compounds that test a tag and nothing else
    cdef tuple others
    cdef list names
    cdef int name_count  # len(names), read where no Python error may arise
    # The compounds that test an attribute for an "i" substring and nothing else
    # (``[class*=word i]``), scanned for together: one pass over the attribute's value
    # looks for all of its words, each filed under its first byte.
    cdef int scanned
    cdef bytes words  # their words, lower-cased, one after another
    cdef Py_ssize_t word_start[MAX_SCANNED]
    cdef size_t word_length[MAX_SCANNED]
    cdef int scan_slots[MAX_TURNS]  # the attribute slots scanned, in turn
    cdef int scan_count
    # by attribute slot scanned (in turn) and first byte: where its words start among
    # the scanned (sorted by slot, then word), and how many
    cdef unsigned char first[MAX_TURNS][256]
    cdef unsigned char count[MAX_TURNS][256]
    cdef signed char slots[STATIC_IDS]  # by static attribute id: -2 unknown, -1 none
    # by static tag id, how many of ``by_tag`` an element of that tag matches (-1:
    # not counted yet): an element is listed once for each, and the repeats of one
    # element are alike, so their order among its matches does not matter
    cdef int tag_counts[STATIC_IDS]

    def __init__(self, compounds):
        self.compounds = tuple(compounds)
        self.names = []
        for i in range(STATIC_IDS):
            self.slots[i] = -2
            self.tag_counts[i] = -1
        for compound in self.compounds:
            if not isinstance(compound, Compound):
                raise TypeError("a query is made of Compounds")
            self.name((<Compound>compound))
        self.by_tag = tuple(
            c for c in self.compounds
            if (<Compound>c).tags is not None and (<Compound>c).test == ATTRIBUTE_ANY
            and (<Compound>c).ancestor is None
        )
        self.others = tuple(c for c in self.compounds if c not in self.by_tag)
        self.file()

    cdef file(self):
        """Take the compounds to scan for out of ``others``: every ``[name*=word i]``
        alone (at most MAX_SCANNED, on at most MAX_TURNS attributes)."""
        cdef Compound c
        cdef int i, turn = -1, slot = -1
        slots = []
        chosen = []
        for c in self.others:
            if (c.tags is None and c.ancestor is None and c.test == ATTRIBUTE_CONTAINS
                    and c.case == CASE_INSENSITIVE and c.folded and len(chosen) < MAX_SCANNED
                    and (c.slot in slots or len(slots) < MAX_TURNS)):
                chosen.append(c)
                if c.slot not in slots:
                    slots.append(c.slot)
        self.others = tuple(c for c in self.others if c not in chosen)
        scanned = sorted(((<Compound>c).slot, (<Compound>c).folded) for c in chosen)
        self.scanned = len(scanned)
        self.words = b"".join(word for _, word in scanned)
        start = 0
        for i, (word_slot, word) in enumerate(scanned):
            if word_slot != slot:
                slot = word_slot
                turn += 1
                self.scan_slots[turn] = slot
            if self.count[turn][word[0]] == 0:
                self.first[turn][word[0]] = i
            self.count[turn][word[0]] += 1
            self.word_start[i] = start
            self.word_length[i] = len(word)
            start += len(word)
        self.scan_count = turn + 1

    cdef int scan(self, void *node, Attributes *read) noexcept:
        """How many of the scanned compounds element ``node`` matches."""
        cdef int turn, slot, j, end, found = 0
        cdef size_t i, k, length, size
        cdef const uchar *value
        cdef const uchar *words = self.words
        cdef const uchar *word
        cdef unsigned long long matched = 0
        cdef uchar c
        if read.node != node:
            self.read(node, read)
        for turn in range(self.scan_count):
            slot = self.scan_slots[turn]
            if not read.present[slot]:
                continue
            value = read.values[slot]
            length = read.lengths[slot]
            for i in range(length):
                c = _lower(value[i])
                end = self.first[turn][c] + self.count[turn][c]
                for j in range(self.first[turn][c], end):
                    size = self.word_length[j]
                    if matched >> j & 1 or size > length - i:
                        continue
                    word = words + self.word_start[j]
                    for k in range(1, size):
                        if _lower(value[i + k]) != word[k]:
                            break
                    else:
                        matched |= 1ULL << j
                        found += 1
        return found

    cdef int count_by_tag(self, void *node) except -1:
        """How many of ``by_tag`` element ``node`` matches."""
        cdef size_t tag = (<Node *>node).local_name
        cdef int count = 0
        cdef Compound compound
        if tag < STATIC_IDS and self.tag_counts[tag] >= 0:
            return self.tag_counts[tag]
        for compound in self.by_tag:
            if compound.tag_matches(node):
                count += 1
        if tag < STATIC_IDS:
            self.tag_counts[tag] = count
        return count

    cdef name(self, Compound compound):
        while compound is not None:
            if compound.attribute is not None:
                if compound.attribute not in self.names:
                    if len(self.names) == MAX_NAMES:
                        raise ValueError(f"a query reads at most {MAX_NAMES} attributes")
                    self.names.append(compound.attribute)
                    self.name_count = len(self.names)
                compound.slot = self.names.index(compound.attribute)
            compound = compound.ancestor

    cdef int slot_of(self, void *attribute, Attributes *read) noexcept:
        """The place of an attribute's name among ``names`` (-1: not one of them)."""
        cdef size_t id = (<Node *>attribute).local_name, length = 0
        cdef int i, slot = -1
        cdef const uchar *name
        cdef size_t free = (id >> 3) & (DYNAMIC_IDS - 1)
        if id < STATIC_IDS and self.slots[id] != -2:
            return self.slots[id]
        if id >= STATIC_IDS:
            while read.dynamic_ids[free] != 0:
                if read.dynamic_ids[free] == id:
                    return read.dynamic_slots[free]
                free = (free + 1) & (DYNAMIC_IDS - 1)
        name = attribute_local_name_of(attribute, &length)
        if name != NULL:
            for i in range(self.name_count):
                wanted = <bytes>self.names[i]
                if _equal(name, length, <const uchar *>wanted, len(wanted), True):
                    slot = i
                    break
        if id < STATIC_IDS:
            self.slots[id] = slot
        elif read.dynamic_count < DYNAMIC_FULL:
            read.dynamic_ids[free] = id
            read.dynamic_slots[free] = slot
            read.dynamic_count += 1
        return slot

    cdef void read(self, void *node, Attributes *read) noexcept:
        """The values of ``names`` on element ``node``: each its first attribute of that
        local name, as lexbor's lxb_dom_element_attr_by_id finds it."""
        cdef int i, slot
        cdef size_t id
        cdef void *attribute = (<Element *>node).first_attribute
        cdef Str *value
        for i in range(self.name_count):
            read.present[i] = False
            read.folded_ready[i] = False
        read.node = node
        while attribute != NULL:
            id = (<Node *>attribute).local_name
            slot = self.slots[id] if id < STATIC_IDS else -2
            if slot == -2:
                slot = self.slot_of(attribute, read)
            if slot >= 0 and not read.present[slot]:
                read.present[slot] = True
                value = (<Attribute *>attribute).value
                if value == NULL or value.data == NULL:
                    read.values[slot] = <const uchar *>b""
                    read.lengths[slot] = 0
                else:
                    read.values[slot] = value.data
                    read.lengths[slot] = value.length
            attribute = (<Attribute *>attribute).next


cdef inline void _start(Attributes *read) noexcept nogil:
    """An empty ``read``, for a walk of a tree."""
    read.node = NULL
    read.dynamic_count = 0
    memset(read.dynamic_ids, 0, sizeof(read.dynamic_ids))


def usable(root):
    """Whether ``find`` reads ``root`` as lexbor's ``css`` does: a LexborNode of a
    parsed page, not a fragment's root nor template content (there selectolax skips
    or starts elsewhere)."""
    if type(root) is not LexborNode:
        return False
    cdef NodeObject *raw = <NodeObject *><PyObject *>root
    return raw.node != NULL and not raw.is_fragment_root and not raw.is_template_content


cdef int _count(Query query, Node *node, Attributes *read) except -1:
    """How many selectors of ``query`` element ``node`` matches."""
    cdef int count = query.count_by_tag(node) if len(query.by_tag) else 0
    cdef Compound compound
    if query.scanned:
        count += query.scan(node, read)
    for compound in query.others:
        if compound.matches(node, read, query):
            count += 1
    return count


cdef int _add(list found, int count, Node *node, object parser) except -1:
    cdef int i
    for i in range(count):  # a node of its own for each, as lexbor gives
        found.append(_node(node, parser))
    return 0


cdef inline Node *_following(Node *node, Node *top, bint into) noexcept:
    """The node after ``node`` in document order under ``top`` (NULL at the end);
    ``into``: its children are read."""
    if into and node.first_child != NULL:
        return node.first_child
    while node != top and node.next == NULL:
        node = node.parent
    return NULL if node == top else node.next


def nodes_at(root, ids):
    """LexborNodes of the elements ``ids`` (``mem_id``s of live elements of ``root``'s
    tree, as the compiled walk gives them), made as ``find`` makes them, by ``mem_id``."""
    parser = root.parser
    return {i: _node(<void *><size_t>i, parser) for i in ids}


def positions(root, ids):
    """Where each element of ``ids`` (``mem_id``s) lies under ``root`` (a LexborNode,
    ``usable``; itself included), by ``mem_id``: its number among the elements in
    document order. Those not found there are left out."""
    if not usable(root):
        raise ValueError("not a node find reads")
    cdef list ordered = sorted(set(ids))
    cdef Py_ssize_t count = len(ordered), low, high, middle, number = 0
    cdef dict found = {}
    cdef Node *top = <Node *>(<NodeObject *><PyObject *>root).node
    cdef Node *node = top
    cdef size_t *wanted = <size_t *>malloc(max(count, 1) * sizeof(size_t))
    if wanted == NULL:
        raise MemoryError()
    try:
        for low in range(count):
            wanted[low] = ordered[low]
        while node != NULL and len(found) < count:
            if node.type == NODE_ELEMENT:
                low, high = 0, count
                while low < high:  # a binary search of the ids, sorted
                    middle = (low + high) // 2
                    if wanted[middle] < <size_t>node:
                        low = middle + 1
                    else:
                        high = middle
                if low < count and wanted[low] == <size_t>node:
                    found[<size_t>node] = number
                number += 1
            node = _following(node, top, node.type == NODE_ELEMENT)
    finally:
        free(wanted)
    return found


cdef dict _encoded_names = {}


def joined_values(node, tuple names):
    """The values of element ``node``'s attributes ``names`` that are neither missing nor
    empty, in the order of ``names``, joined by a space: as selectolax's ``attributes``
    reads them (by qualified name, the last of a name winning, undecodable bytes as
    U+FFFD)."""
    if type(node) is not LexborNode:
        raise TypeError("not a LexborNode")
    cdef void *element = (<NodeObject *><PyObject *>node).node
    cdef list encoded = _encoded_names.get(names)
    if encoded is None:
        encoded = _encoded_names[names] = [text.encode() for text in names]
    cdef Py_ssize_t count = len(encoded), i
    if count > MAX_NAMES:
        raise ValueError(f"at most {MAX_NAMES} names")
    cdef const uchar *values[MAX_NAMES]
    cdef size_t lengths[MAX_NAMES]
    cdef const uchar *name
    cdef size_t length
    cdef void *attribute
    cdef bytearray joined = bytearray()
    for i in range(count):
        values[i] = NULL
    attribute = first_attribute_of(element) if element != NULL and type_of(element) == NODE_ELEMENT else NULL
    while attribute != NULL:
        name = attribute_name_of(attribute, &length)
        for i in range(count):
            if length == len(<bytes>encoded[i]) and memcmp(name, <const uchar *><bytes>encoded[i], length) == 0:
                values[i] = attribute_value_of(attribute, &lengths[i])
                break
        attribute = next_attribute_of(attribute)
    for i in range(count):
        if values[i] != NULL and lengths[i]:
            if joined:
                joined.append(32)
            joined.extend((<const char *>values[i])[:lengths[i]])
    return PyUnicode_DecodeUTF8(joined, len(joined), "replace")


cdef Py_ssize_t _characters(const uchar *data, size_t length) noexcept nogil:
    """The characters of the UTF-8 ``data``; -1 where it is not well formed (where a
    decoder would replace bytes)."""
    cdef size_t i = 0, k, more
    cdef Py_ssize_t count = 0
    cdef uchar c, low, high
    while i < length:
        c = data[i]
        count += 1
        i += 1
        if c < 0x80:
            continue
        low, high = 0x80, 0xBF  # the second byte's range (the next ones': 80-BF)
        if 0xC2 <= c <= 0xDF:
            more = 1
        elif 0xE0 <= c <= 0xEF:
            more = 2
            if c == 0xE0:
                low = 0xA0
            elif c == 0xED:
                high = 0x9F  # no surrogates
        elif 0xF0 <= c <= 0xF4:
            more = 3
            if c == 0xF0:
                low = 0x90
            elif c == 0xF4:
                high = 0x8F
        else:
            return -1
        if length - i < more or not low <= data[i] <= high:
            return -1
        for k in range(1, more):
            if not 0x80 <= data[i + k] <= 0xBF:
                return -1
        i += more
    return count


def text_length(root):
    """``len(root.text())`` for a ``usable`` node, without making the text: the
    characters of its text (its own, for a text node) and its descendants' text nodes,
    as selectolax reads them; -1 where one is not well-formed UTF-8."""
    if not usable(root):
        raise ValueError("not a node text_length reads")
    return _text_length(<Node *>(<NodeObject *><PyObject *>root).node)


cdef Py_ssize_t _text_length(Node *top) noexcept:
    cdef Node *node = top
    cdef Str *text
    cdef Py_ssize_t total = 0, found
    while node != NULL:
        if node.type == NODE_TEXT if node == top else node.local_name == TAG_TEXT:
            text = &(<CharacterData *>node).data
            if text.data != NULL:
                found = _characters(text.data, text.length)
                if found < 0:
                    return -1
                total += found
        node = _following(node, top, True)
    return total


def parent_scores(root, Query query not None):
    """The parents of the elements at or under ``root`` (a LexborNode, ``usable``) that
    ``query`` finds (as ``find`` lists them), each once, in the order of their first
    such child, with the sum over those children, in document order, of 1 +
    min(``text_length(child)`` / 100, 3); None where a child's text is not well-formed
    UTF-8."""
    if not usable(root):
        raise ValueError("not a node parent_scores reads")
    cdef Node *top = <Node *>(<NodeObject *><PyObject *>root).node
    parser = root.parser
    cdef dict place = {}  # a parent's place in ``parents``, by its pointer
    cdef list parents = [], scores = []
    cdef Node *node = top
    cdef Attributes read
    cdef int count
    cdef Py_ssize_t length
    cdef double share
    _start(&read)
    while node != NULL:
        if node.type == NODE_ELEMENT:
            count = _count(query, node, &read)
            if count and node.parent != NULL:
                length = _text_length(node)
                if length < 0:
                    return None
                share = length / 100.0
                if share > 3:
                    share = 3
                i = place.get(<size_t>node.parent)
                if i is None:
                    i = place[<size_t>node.parent] = len(parents)
                    parents.append(_node(node.parent, parser))
                    scores.append(0.0)
                for _ in range(count):
                    scores[i] = scores[i] + 1 + share
        node = _following(node, top, node.type == NODE_ELEMENT)
    return list(zip(parents, scores))


def find(root, Query query, bint first=False, dict skip=None):
    """The elements at or under ``root`` (a LexborNode, ``usable``) that match
    ``query``, as ``root.css`` lists them: in document order, an element once for each
    selector of the list it matches; only the first one when ``first``. Those that
    ``skip`` maps to 0 (or another false value) by ``mem_id`` are left out."""
    if not usable(root):
        raise ValueError("not a node find reads")
    cdef Node *top = <Node *>(<NodeObject *><PyObject *>root).node
    parser = root.parser
    cdef list found = []
    cdef Node *node = top
    cdef Attributes read
    cdef int count
    _start(&read)
    while node != NULL:
        if node.type == NODE_ELEMENT:
            count = _count(query, node, &read)
            if count and skip is not None and not skip.get(<size_t>node, True):
                count = 0
            if count:
                if first:
                    return [_node(node, parser)]
                _add(found, count, node, parser)
        node = _following(node, top, node.type == NODE_ELEMENT)
    return found


def find_each(root, tuple queries):
    """``[find(root, query) for query in queries]``, in one walk of the tree."""
    if not usable(root):
        raise ValueError("not a node find reads")
    cdef Node *top = <Node *>(<NodeObject *><PyObject *>root).node
    parser = root.parser
    cdef Py_ssize_t n = len(queries), i
    cdef list found = [[] for _ in range(n)]
    cdef Node *node = top
    cdef Attributes *reads = <Attributes *>malloc(max(n, 1) * sizeof(Attributes))
    cdef int count
    if reads == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            if not isinstance(queries[i], Query):
                raise TypeError("find_each reads Queries")
            _start(&reads[i])
        while node != NULL:
            if node.type == NODE_ELEMENT:
                for i in range(n):
                    count = _count(<Query>queries[i], node, &reads[i])
                    if count:
                        _add(<list>found[i], count, node, parser)
            node = _following(node, top, node.type == NODE_ELEMENT)
    finally:
        free(reads)
    return found


cdef int _check_layout(Node *node, int expected_ns) except -1:
    """Raise ImportError unless the fields of ``node`` (and of its attributes, for an
    element) read what lexbor's accessors give."""
    cdef size_t length = 0, value_length = 0
    cdef void *attribute
    cdef const uchar *value
    cdef Str *stored
    if (
        node.next != next_of(node)
        or node.parent != parent_of(node)
        or node.first_child != first_child_of(node)
        or node.type != type_of(node)
        or node.local_name != tag_id_of(node)
    ):
        raise ImportError("lexbor's nodes are not laid out as expected")
    if node.type != NODE_ELEMENT:
        return 0
    if node.ns != <uintptr_t>expected_ns:
        raise ImportError("lexbor's elements do not read their namespace as expected")
    attribute = (<Element *>node).first_attribute
    if attribute != first_attribute_of(node):
        raise ImportError("lexbor's elements are not laid out as expected")
    while attribute != NULL:
        value = attribute_value_of(attribute, &value_length)
        stored = (<Attribute *>attribute).value
        if (
            (<Attribute *>attribute).next != next_attribute_of(attribute)
            or (value != NULL) != (stored != NULL and stored.data != NULL)
            or (value != NULL and (value != stored.data or value_length != stored.length))
            or attribute_local_name_of(attribute, &length) == NULL
        ):
            raise ImportError("lexbor's attributes are not laid out as expected")
        attribute = (<Attribute *>attribute).next
    return 0


def _check():
    """The layouts this module declares, checked on a probe page: every node and
    attribute read through them reads what lexbor's accessors give, and a node made
    here is the one selectolax makes."""
    from selectolax.lexbor import LexborHTMLParser

    if LexborNode.__basicsize__ != sizeof(NodeObject):
        raise ImportError("selectolax's LexborNode is not laid out as expected")
    page = LexborHTMLParser(
        '<p class="a" id>One <b title="">tw\u00f6 \u20ac\U0001f600</b></p><svg viewBox="0 0 1 1"><a href="/x">'
        '</a></svg><math><mi>x</mi></math>'
    )
    namespaces = {"svg": NS_SVG, "a": NS_SVG, "math": NS_MATH, "mi": NS_MATH}
    for given in page.root.traverse(include_text=True):
        _check_layout(<Node *><size_t>given.mem_id, namespaces.get(given.tag, NS_HTML))
        made = _node(<void *><size_t>given.mem_id, page)
        if (
            made.mem_id != given.mem_id
            or made.parser is not page
            or made.tag != given.tag
            or made != given
            or made.text() != given.text()
            or text_length(given) != len(given.text())
            or made.attributes != given.attributes
            or made.parent.mem_id != given.parent.mem_id
        ):
            raise ImportError(f"a node made for <{given.tag}> is not selectolax's own")


_bind()
_check()
