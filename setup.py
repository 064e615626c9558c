"""The compiled block walk (``scraper/_walk.pyx``); everything else is in pyproject.toml.

The extension is optional: where it cannot be built (no C compiler) the package
installs without it and ``scraper.blocks`` walks the tree in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "scraper._walk",
            ["scraper/_walk.pyx"],
            libraries=["dl"],  # dlopen/dlsym (in libc itself since glibc 2.34)
            optional=True,
        )
    ]
)
