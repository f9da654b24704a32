"""The compiled runtime + interpreter (`wizardpy._native`, built by native/build_native.py).

    from wizardpy.native import ffi, lib, bind_thread

Callbacks from C into Python. The interpreter calls exactly two Python functions, defined once
here with `@ffi.def_extern()` (nobody else may define them):

    wz_host_call(t, f, base) -> int    a call of a host function (f.kind == WZ_FUNC_HOST); the
                                       arguments are at t.stack[base ..], results go there too
    wz_probe_fire_py(t, global_) -> int  a local probe (global_=0) at the innermost frame's ip,
                                       or a global probe (global_=1) before any instruction

Both return 0 or a trap code. They dispatch to the *owner* of the thread, whose cffi handle is
stored in `t.user` (see `bind_thread`): `owner.host_call(t, f, base)` and
`owner.probe_fire(t, global_)`. No exception ever escapes into C: if the owner raises, the
exception is stored as `owner.pending_exception` and the callback returns WZ_TRAP_HOST, which
makes wz_invoke return WZ_TRAP_HOST; the caller then re-raises `owner.pending_exception`.

Probes normally do not come here: the native `wz_probe_fire` (native/build_native.py) calls the
callables the Engine put in `t.py_probe` / `t.py_runs` directly through the Python C API
(`Engine._bind_probe_cb`); `wz_probe_fire_py` is its fallback while `t.py_probe` is NULL.
"""
from __future__ import annotations

try:
    from wizardpy._native import ffi, lib
except ImportError as e:  # pragma: no cover - depends on the build
    raise ImportError(f"wizardpy's native extension is not built ({e}): run `make install`") from e

WZ_TRAP_HOST = lib.WZ_TRAP_HOST
OP_PROBE = 0x120


def bind_thread(t, owner):
    """Make `owner` receive the callbacks of thread `t`. Returns the handle: the owner must keep
    it alive as long as the thread may run (it is also stored as `owner._wz_handle`)."""
    h = ffi.new_handle(owner)
    owner._wz_handle = h
    t.user = h
    return h


def _owner_error(exc, value, tb):
    """onerror hook: anything that escaped the wrappers below (should not happen)."""
    return None  # the callback then returns its `error` value, WZ_TRAP_HOST


@ffi.def_extern(error=WZ_TRAP_HOST, onerror=_owner_error)
def wz_host_call(t, f, base):
    if t.user == ffi.NULL:
        return WZ_TRAP_HOST
    owner = ffi.from_handle(t.user)
    try:
        return owner.host_call(t, f, base) or 0
    except BaseException as e:  # noqa: BLE001 - must not unwind into C
        owner.pending_exception = e
        return WZ_TRAP_HOST


@ffi.def_extern(error=WZ_TRAP_HOST, onerror=_owner_error)
def wz_probe_fire_py(t, global_):
    """Used only while t.py_probe is NULL (the Engine normally sets it: engine._bind_probe_cb)."""
    if t.user == ffi.NULL:
        return WZ_TRAP_HOST
    owner = ffi.from_handle(t.user)
    try:
        return owner.probe_fire(t, global_) or 0
    except BaseException as e:  # noqa: BLE001 - must not unwind into C
        owner.pending_exception = e
        return WZ_TRAP_HOST
