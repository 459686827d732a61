"""Every hand-written LLVM-IR kernel, in one place and written one way.

Each module writes its IR text with ``_ir.Emitter``, links it into Numba through an
intrinsic (``_ir.ir_codegen``), says with ``available()`` whether it runs on this
host and settings, and has a plain Numba twin whose results it must equal:

============================  ==========================  ===========================
module                        kernel                      its plain twin
============================  ==========================  ===========================
``forest_walk``               Isolation Forest scoring,   ``forest._kernels.
                              AVX-512 (16 rows a vector)  score_complete`` (bit for
                                                          bit)
``eif_walk``                  Extended Isolation Forest   ``forest._eif_kernels.
                              scoring (plain IR vectors,  path_length_sum`` (bit for
                              any host)                   bit)
``gemm``                      LOF's block products:       NumPy's float32 products
                              AVX-512 register tiles;     (within float32's bound);
                              AMX bfloat16 tiles          ``emulated_amx_products``
                              (``amx_available()``); the  (within bfloat16's bound);
                              scan's marks (plain IR)     the scan's float32 test
============================  ==========================  ===========================

Bounds checking cannot reach into IR: each kernel's caller checks first what the IR
relies on (``forest._kernels.check_complete_walk``, ``forest._eif_kernels.
check_simd_table`` and ``check_simd_walk``, ``gemm.check_block_products``,
``gemm.check_amx_products`` and ``check_amx_products_tiled``). The settings ``simd``
and ``amx`` (``isoforest.config_context``) turn the kernels off;
``isoforest.show_config()`` says which run here. The tests compile every module for
explicit AVX-512 and AMX targets on any host (``tests/_simd/test_ir_targets.py``).

Imports NumPy, Numba and llvmlite only.
"""
