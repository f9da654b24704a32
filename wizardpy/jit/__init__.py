"""The JIT tier: Wasm -> LLVM IR -> machine code with llvmlite (see compiler.py, codegen.py).

`Engine(tier="jit")` compiles every defined function at instantiation; `tier="tiered"` starts in
the interpreter and compiles a module once one of its functions has been called
`config.jit_threshold` times (checked when Python calls into Wasm). Compiled code shares the
interpreter's native structures (value stack, frames, memories, tables, globals), so compiled,
interpreted and host frames call each other in any order and traps/backtraces cross them.
"""
from .codegen import JIT, CompileStats

__all__ = ["JIT", "CompileStats"]
