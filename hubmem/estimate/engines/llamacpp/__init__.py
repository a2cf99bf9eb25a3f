"""The llama.cpp view: what llama.cpp allocates and prints when it loads a model on the CPU backend, following
ggml-org/llama.cpp @ 0c1e57098bba43ac29e6e3b677cdceebdd22334f (the tree llama-cpp-python 0.3.36 vendors).

``hparams`` (what llama.cpp's ``llama_hparams`` holds, from the architecture), ``cparams`` (the context it
resolves from -c/-b/-ub/-np/-ctk/-ctv/-fa/--swa-full/--kv-unified), ``caches`` (the KV caches, iSWA
included, and the recurrent state), ``compute`` (the compute and output buffers), ``model`` (the model
buffers), ``lines`` (the lines llama.cpp prints), ``view`` (the assembly and the report's KV section).
Every figure was checked against llama.cpp's own load logs by ``scripts/validate/llama_cpp.py``."""
