# cython: language_level=3
"""What ``scraper._walk`` and ``scraper._find`` share to read lexbor's tree: the
accessor functions selectolax's extension exports are looked up in it with ``dlsym``
(it is loaded already), and every node is an opaque pointer."""

cdef extern from "<dlfcn.h>" nogil:
    void *dlopen(const char *filename, int flags)
    void *dlsym(void *handle, const char *symbol)
    char *dlerror()
    int RTLD_NOW
    int RTLD_NOLOAD

ctypedef unsigned char uchar

ctypedef size_t (*tag_id_fn)(void *node) noexcept nogil
ctypedef void *(*node_fn)(void *node) noexcept nogil
ctypedef int (*type_fn)(void *node) noexcept nogil
ctypedef const uchar *(*name_fn)(void *obj, size_t *length) noexcept nogil


cdef inline void *selectolax_library() except NULL:
    """selectolax's extension, as the process loaded it."""
    import selectolax.lexbor

    cdef void *library = dlopen(selectolax.lexbor.__file__.encode(), RTLD_NOW | RTLD_NOLOAD)
    if library == NULL:
        raise ImportError(f"selectolax's extension not loaded: {dlerror().decode()}")
    return library


cdef inline void *symbol(void *library, bytes name) except NULL:
    cdef void *found = dlsym(library, name)
    if found == NULL:
        raise ImportError(f"lexbor's {name.decode()} not found in selectolax's extension")
    return found
