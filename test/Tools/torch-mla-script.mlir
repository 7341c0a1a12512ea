// The PyTorch comparison script of mla-bench --target=cuda is valid Python
// (it only runs where PyTorch and a CUDA device are).
// RUN: python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" %mla_src/tools/mla-bench/torch_mla.py
// RUN: grep -q "ctypes.CDLL(a.kernel_lib)" %mla_src/tools/mla-bench/torch_mla.py
