"""The compiled block walk (``scraper/_walk.pyx``) and element finder
(``scraper/_find.pyx``); everything else is in pyproject.toml.

The extensions are optional: where they cannot be built (no C compiler) the package
installs without them, ``scraper.blocks`` walks the tree in Python and
``scraper.find`` asks lexbor's CSS queries.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "scraper._walk",
            ["scraper/_walk.pyx"],
            libraries=["dl"],  # dlopen/dlsym (in libc itself since glibc 2.34)
            optional=True,
        ),
        Extension(
            "scraper._find",
            ["scraper/_find.pyx"],
            libraries=["dl"],
            optional=True,
        ),
    ]
)
