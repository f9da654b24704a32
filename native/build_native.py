"""cffi builder for wizardpy's native runtime and interpreter (module `wizardpy._native`).

Used by setup.py (`native/build_native.py:ffibuilder`) during `pip install`, and directly for
development: `python native/build_native.py` compiles the extension in place into wizardpy/.

The cdef is native/wizard.h itself (preprocessor lines stripped), so the header stays the one
source of truth, plus the two callbacks into Python, declared `extern "Python+C"` so the
separately compiled interp.c can call them.
"""
import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CALLBACKS = """
extern "Python+C" {
    int wz_host_call(wz_thread *t, wz_func *f, uint32_t base);
    int wz_probe_fire(wz_thread *t, uint32_t global_);
}
"""

# Flags: -O2. Measured against wasm3 in the same interleaved run (`python -m bench interp`, the
# wizardpy/wasm3 ratio cancels the noise of this shared 2-core machine), -O3 and -fno-gcse were
# within the noise (ratios 0.35-0.63 for all three); what mattered was pinning the interpreter's
# hot locals to registers (interp.c, WZ_REG). -fno-plt: direct calls to libm/libc. No fast-math:
# Wasm float semantics need IEEE behaviour; -ffp-contract=off forbids fused multiply-add.
CFLAGS = ["-O2", "-fno-plt", "-fno-math-errno", "-ffp-contract=off", "-fno-strict-aliasing",
          "-std=gnu11", "-Wall", "-Wno-override-init", "-Wno-unused-label"]
# Extra flags for experiments, appended last (e.g. WIZARDPY_NATIVE_CFLAGS="-O3 -march=native").
CFLAGS += os.environ.get("WIZARDPY_NATIVE_CFLAGS", "").split()


def header_cdef(path=os.path.join(HERE, "wizard.h")):
    with open(path) as f:
        text = f.read()
    # drop preprocessor lines; the rest is plain declarations cffi understands
    return "\n".join(line for line in text.splitlines() if not re.match(r"\s*#", line))


def make_builder(root=""):
    """root="": paths relative to the repository root (setuptools builds from there);
    an absolute root for builds that run elsewhere (cffi's compile() chdirs to its tmpdir)."""
    fb = FFI()
    fb.cdef(header_cdef() + CALLBACKS)
    fb.set_source(
        "wizardpy._native",
        '#include "wizard.h"\n',
        sources=[os.path.join(root, "native", n) for n in ("interp.c", "runtime.c", "jit_support.c")],
        include_dirs=[os.path.join(root, "native")],
        depends=[os.path.join(root, "native", n) for n in ("wizard.h", "fusion.h")],
        libraries=["pthread"],
        extra_compile_args=CFLAGS,
    )
    return fb


ffibuilder = make_builder()

if __name__ == "__main__":
    # in-place development build: run from the repository root
    make_builder(ROOT).compile(tmpdir=os.path.join(ROOT, "build", "cffi"), verbose="-v" in sys.argv)
    # cffi writes the module under tmpdir (build/cffi/wizardpy/_native*.so). Install it under the
    # name `pip install -e .` uses (_native.abi3.so) and remove any other variant, so a stale
    # build can never shadow a fresh one.
    import glob
    import shutil
    built = glob.glob(os.path.join(ROOT, "build", "cffi", "wizardpy", "_native*.so"))
    built.sort(key=os.path.getmtime)
    for old in glob.glob(os.path.join(ROOT, "wizardpy", "_native*.so")):
        os.remove(old)
    dest = os.path.join(ROOT, "wizardpy", "_native.abi3.so")
    shutil.copy2(built[-1], dest)
    print("built", os.path.relpath(dest, ROOT))
