"""wizardpy benchmarks (not timed tests): ``python -m bench`` runs the standard one.

- ``bench.interp``: interpreter throughput on our compute kernels (bench/kernels/*.c) side by
  side with wasm3, wabt's interpreter, pywasm and wasmtime; graphviz.wasm load time.
- ``bench.engines``: one adapter per engine.
- ``bench.kernels.build``: rebuilds the committed kernel .wasm files with zig cc.
"""
