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
    int wz_probe_fire_py(wz_thread *t, uint32_t global_);
}
"""

# wz_probe_fire (called by interp.c / jit_support.c): when the Engine has set t->py_probe, native
# code calls Python directly through the C API (GIL re-acquired with PyGILState_Ensure: cffi
# released it around wz_invoke; keeping it held saved only 10-20% more and would starve other
# threads, e.g. the CLI's Ctrl-C watcher). With t->py_runs it looks the site up in the
# instrumentation's run table and calls the probe's (f, arg) itself: no cffi callback wrapper, no
# cdata for `t`, no ffi.from_handle, no Python dispatcher frame. Measured (process_time, same
# run): empty Python probe 479 -> 74 ns per firing, global empty probe 478 -> 73 ns per
# instruction. Exceptions never escape into C: they go to t->py_finish / t->py_park (parked as
# engine.pending_exception) and the probe returns WZ_TRAP_HOST. t->py_probe NULL: the cffi
# callback wz_probe_fire_py (wizardpy/native.py).
PROBE_SHIM = r"""
int wz_probe_fire_py(wz_thread *t, uint32_t global_);

static int wz_park_exception(wz_thread *t)
{
    PyObject *et = NULL, *ev = NULL, *tb = NULL;
    PyErr_Fetch(&et, &ev, &tb);
    PyErr_NormalizeException(&et, &ev, &tb);
    if (ev != NULL && tb != NULL) PyException_SetTraceback(ev, tb);
    if (ev != NULL && t->py_park != NULL) {
        PyObject *r = PyObject_CallFunctionObjArgs((PyObject *)t->py_park, ev, NULL);
        if (r == NULL) PyErr_Clear(); else Py_DECREF(r);
    }
    Py_XDECREF(et); Py_XDECREF(ev); Py_XDECREF(tb);
    return WZ_TRAP_HOST;
}

int wz_probe_fire(wz_thread *t, uint32_t global_)
{
    PyObject *cb = (PyObject *)t->py_probe;
    if (cb == NULL) return wz_probe_fire_py(t, global_);
    PyGILState_STATE st = PyGILState_Ensure();
    int rc = 0;
    PyObject *key = PyLong_FromSize_t(global_ ? 0 : (size_t)t->probe_site), *r = NULL;
    PyObject *runs = (PyObject *)t->py_runs, *pair = NULL;
    if (key != NULL && runs != NULL) pair = PyDict_GetItem(runs, key);      /* borrowed */
    if (pair != NULL && PyTuple_Check(pair) && PyTuple_Size(pair) == 2 && t->py_finish != NULL) {
        /* the site's (f, arg): call f(arg) here, no Python dispatcher in between */
        PyObject *f = PyTuple_GetItem(pair, 0), *a = PyTuple_GetItem(pair, 1);
        Py_INCREF(pair);                 /* a probe may remove itself (and its pair) */
        r = PyObject_CallFunctionObjArgs(f, a, NULL);
        if (r != Py_None) {              /* an action or an exception: the instrumentation's */
            PyObject *et = NULL, *ev = NULL, *tb = NULL;
            if (r == NULL) {
                PyErr_Fetch(&et, &ev, &tb);
                PyErr_NormalizeException(&et, &ev, &tb);
                if (ev != NULL && tb != NULL) PyException_SetTraceback(ev, tb);
            }
            PyObject *r2 = PyObject_CallFunctionObjArgs((PyObject *)t->py_finish, key, f, a,
                                                        r ? r : Py_None, ev ? ev : Py_None, NULL);
            Py_XDECREF(r); Py_XDECREF(et); Py_XDECREF(ev); Py_XDECREF(tb);
            r = r2;
        }
        Py_DECREF(pair);
    } else if (key != NULL) {
        r = PyObject_CallFunctionObjArgs(cb, key, NULL);
    }
    Py_XDECREF(key);
    if (r == NULL) {
        rc = wz_park_exception(t);
    } else {
        if (r != Py_None) {
            long v = PyLong_AsLong(r);
            if (v == -1 && PyErr_Occurred()) rc = wz_park_exception(t);
            else rc = (int)v;
        }
        Py_DECREF(r);
    }
    PyGILState_Release(st);
    return rc;
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
        '#include "wizard.h"\n' + PROBE_SHIM,
        sources=[os.path.join(root, "native", n) for n in ("interp.c", "runtime.c", "jit_support.c",
                                                           "fusion.c")],
        include_dirs=[os.path.join(root, "native")],
        depends=[os.path.join(root, "native", n) for n in ("wizard.h", "fusion.h", "probes.h")],
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
