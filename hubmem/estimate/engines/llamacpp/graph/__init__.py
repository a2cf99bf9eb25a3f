"""llama.cpp's compute graph and ggml-alloc's allocator over it: the compute buffer by simulation."""
