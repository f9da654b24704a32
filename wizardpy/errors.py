"""The exceptions a user of wizardpy can see.

Every failure the engine reports is one of these; each prints as one clear line.
"""
from __future__ import annotations


class WizardError(Exception):
    """Base class of every error wizardpy raises on purpose."""


class DecodeError(WizardError):
    """The bytes are not a well-formed Wasm binary (spec: 'malformed')."""

    def __init__(self, message: str, offset: int | None = None):
        self.message = message
        self.offset = offset
        where = f" at byte offset {offset} (0x{offset:x})" if offset is not None else ""
        super().__init__(f"{message}{where}")


class ValidationError(WizardError):
    """The module is well-formed but not valid (spec: 'invalid')."""

    def __init__(self, message: str, func: str | None = None, pc: int | None = None):
        self.message = message
        self.func = func
        self.pc = pc
        where = ""
        if func is not None:
            where = f" in func {func}" + (f" +{pc}" if pc is not None else "")
        super().__init__(f"{message}{where}")


class LinkError(WizardError):
    """Imports could not be resolved or do not match (spec: 'unlinkable')."""


class Trap(WizardError):
    """A Wasm trap: the program stopped with a reason and a Wasm backtrace.

    `reason` is the spec's message (e.g. "integer divide by zero"); `frames` is a list of
    `(func_index, func_name, pc)` from the innermost frame outwards.
    """

    def __init__(self, reason: str, frames: list[tuple[int, str, int]] | None = None):
        self.reason = reason
        self.frames = list(frames or [])
        super().__init__(reason)

    def backtrace(self) -> str:
        return "\n".join(f"  {i}: func {name} +{pc}" for i, (_, name, pc) in enumerate(self.frames))

    def __str__(self) -> str:
        if not self.frames:
            return self.reason
        return f"{self.reason}\nwasm backtrace:\n{self.backtrace()}"


class ExitStatus(WizardError):
    """A WASI program called proc_exit(code)."""

    def __init__(self, code: int):
        self.code = code
        super().__init__(f"exit status {code}")


class ProbeError(WizardError):
    """A probe or a monitor raised an exception: which one, where, and its Python traceback.

    The instrumentation attaches one to every exception a probe raises (`exc.probe_error`, see
    `ProbeError.of`), while the exception itself still propagates unchanged out of the outermost
    Wasm call (with a note naming the probe and location); the engine stays usable. The CLI
    reports it as `wizardpy: probe error: ...` followed by the probe's traceback.

    `who`: the probe (or monitor name); `where`: `"func" +pc` (or the monitor hook, e.g.
    `on_finish`); `original`: the exception; `kind`: "probe", "global probe" or "monitor".
    """

    def __init__(self, who, where: str | None, original: BaseException, kind: str = "probe",
                 tb=None):
        self.who = who
        self.where = where
        self.original = original
        self.kind = kind
        self._tb = tb if tb is not None else original.__traceback__
        at = f" at {where}" if where else ""
        msg = str(original)
        super().__init__(f"{kind} {who!r}{at} raised {type(original).__name__}"
                         + (f": {msg}" if msg else ""))

    @property
    def traceback(self) -> str:
        """The Python traceback of the probe/monitor code (from where it was caught inward)."""
        import traceback

        return "".join(traceback.format_exception(type(self.original), self.original, self._tb))

    @staticmethod
    def of(exc: BaseException) -> "ProbeError | None":
        """The ProbeError attached to an exception a probe raised, or None."""
        return getattr(exc, "probe_error", None)
