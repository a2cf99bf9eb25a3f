"""GGUF header reader: metadata and tensor infos from a prefix of the file, fed incrementally.

Modules: ``header`` (the records and limits), ``tables`` (gguf-py's type tables and struct layouts),
``stream`` (the buffer and coroutine plumbing), ``grammar`` (the format's reading rules), ``parser``
(:class:`~hubmem.formats.gguf.parser.GGUFParser`: the public API, read-size estimates, ``parse_gguf``).

Format (ggml ``docs/gguf.md``; gguf-py ``gguf_reader.py``): ``b"GGUF"``, u32 version (2 or 3), u64
tensor_count, u64 metadata_kv_count, the key/value pairs (string key, u32 value type, value), the tensor
infos (string name, u32 n_dims, n_dims x u64 ``ne``, u32 ggml type, u64 offset into the data section),
padding to ``general.alignment`` (default 32), then the tensor data. A string is a u64 byte length and
UTF-8 bytes; an array is a u32 element type, a u64 count and the elements (arrays of arrays allowed).
Everything is little-endian, except in a big-endian GGUF (the version word then reads byte-swapped, the
test llama.cpp and gguf-py use), which is read as big-endian.

The tables (ggml types with block and type sizes, value types, llama file types, key names) come from
the ``gguf`` package, llama.cpp's own; the bytes are parsed here, because ``gguf.GGUFReader`` wants the
whole file and hubmem has a prefix from HTTP range reads. ``import gguf`` pulls numpy and the writer
(~150 ms measured with ``python -X importtime``; ``gguf.constants`` cannot be imported without the
package ``__init__``), so the tables are loaded on the first parse, not when hubmem is imported.

The parser is a generator-based coroutine: each reading step ``yield``s while the buffer lacks the bytes
it needs, and :meth:`GGUFParser.feed` resumes it. Only the unconsumed tail is kept between feeds (a
``bytes`` feed that starts on an item boundary is used without a copy), no byte is decoded twice, and
arrays longer than :attr:`Limits.keep_array_values` (tokenizer vocabularies) are walked, not decoded:
their strings are skipped by their length prefixes.

Speed (measured with time.process_time, CPython 3.11, one core of the dev machine): the real gemma-3-270m
Q4_K_M header (6.5 MB: 262,144 token strings, scores and token types, 33 keys, 236 tensor infos) parses
in 0.055 s of CPU; a synthetic 7.2 MB one with 340 tensor infos in 0.04-0.06 s, whole, in 4 KiB feeds or
as 64 KiB + one wanted() read alike. gguf.GGUFReader takes ~20 s on a 300k-string file (a numpy array per
string) and cannot open a header-only prefix at all.
"""
