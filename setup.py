"""The compiled block walk (``scraper/_walk.pyx``), element finder
(``scraper/_find.pyx``) and tree evaluator (``scraper/_trees.pyx``); everything else
is in pyproject.toml.

The extensions are optional: where they cannot be built (no C compiler) the package
installs without them, ``scraper.blocks`` walks the tree in Python,
``scraper.find`` asks lexbor's CSS queries and ``scraper.trees`` LightGBM's predict.
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
        Extension("scraper._trees", ["scraper/_trees.pyx"], optional=True),
    ]
)
