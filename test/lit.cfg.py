# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "MLA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.mlir_obj_dir, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unittests", "lib"]

config.substitutions.append(("%mla_src", config.mla_src_dir))
# MLIR's runtime of vector.print, for tests that run IR with mlir-runner.
config.substitutions.append(("%mlir_c_runner_utils", os.path.join(
    config.llvm_lib_dir, "libmlir_c_runner_utils.so")))
# The project's venv Python, which has the package's dependencies.
config.substitutions.append(("%python", config.mla_python))
config.substitutions.append(("%examples", os.path.join(config.mla_src_dir, "examples")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["mla-opt", "mla-codegen", "mla-kernel-check"], [config.mla_tools_dir])
