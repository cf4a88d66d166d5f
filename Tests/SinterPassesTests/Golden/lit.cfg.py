# lit configuration for the golden pass tests: each .sir file's RUN line runs `sinter dump`
# on its `// -----` cases and pipes the IR to LLVM's own FileCheck (MLIR's lit tests).
#   .venv/bin/lit -sv Tests/SinterPassesTests/Golden --param sinter=.build/debug/sinter
import os
import lit.formats

config.name = "sinter-golden"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".sir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(lit_config.params.get("build", "/tmp"), "sinter-lit")

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sinter = lit_config.params.get("sinter", os.path.join(root, ".build", "debug", "sinter"))
llvm_bin = lit_config.params.get("llvm_bin", "/usr/lib/llvm-19/bin")
for tool, path in [("sinter", sinter), ("FileCheck", os.path.join(llvm_bin, "FileCheck"))]:
    if not os.access(path, os.X_OK):
        lit_config.fatal(f"{tool} not found at {path} (build with `swift build`; LLVM 19 tools come with Scripts/setup.sh)")
config.environment["PATH"] = os.pathsep.join([os.path.dirname(os.path.abspath(sinter)), llvm_bin,
                                              config.environment.get("PATH", os.environ.get("PATH", ""))])
