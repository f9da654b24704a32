"""Build hook: compiles the native interpreter (native/) with cffi during install."""
from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
