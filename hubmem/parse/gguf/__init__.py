"""GGUF metadata -> the normalised :class:`~hubmem.schema.architecture.Architecture`, read the way llama.cpp
reads it (``llama_model::load_hparams`` and the per-architecture ``load_arch_hparams`` of ggml-org/llama.cpp
@ 0c1e57098bba43ac29e6e3b677cdceebdd22334f): ``keys`` (the ``<arch>.*`` keys, scalars or per-layer arrays),
``layers`` (which layers are sliding-window or recurrent, each layer's kind), ``architecture`` (the
assembly)."""
