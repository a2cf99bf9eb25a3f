"""Tiny GGUF files of several architectures for the llama.cpp validation, written with the ``gguf`` package
(llama.cpp's own writer): the tensors llama.cpp's ``load_arch_tensors`` wants for each architecture
(src/models/<arch>.cpp @ 0c1e570), zero-valued (loading and reserving the graphs never computes), and a
minimal SentencePiece vocabulary (``<unk>``, ``<s>``, ``</s>``, the 256 byte tokens, filler pieces) so that
``n_vocab`` is exactly the one chosen.

    .venv/bin/python -m scripts.validate.llama_cpp_models DIR        # writes every model below into DIR
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT


class Writer:
    """One GGUF under construction; ``t(name, ne, type)`` adds a zero tensor (``ne`` in ggml order). With
    ``header_only`` only the header is written (metadata and tensor infos: what hubmem reads)."""

    header_only = False

    def __init__(self, path: Path, arch: str, n_vocab: int) -> None:
        self.w = gguf.GGUFWriter(str(path), arch)
        self.arch = arch
        self.n_vocab = n_vocab

    def t(self, name: str, ne: tuple[int, ...], qtype: QT = QT.F16) -> None:
        shape = tuple(reversed(ne))
        if self.header_only:
            block, size = gguf.GGML_QUANT_SIZES[qtype]
            nbytes = ne[0] // block * size * int(np.prod(ne[1:], dtype=np.int64))
            self.w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=qtype)
            return
        if qtype in (QT.F16, QT.F32):
            self.w.add_tensor(name, np.zeros(shape, np.float16 if qtype == QT.F16 else np.float32))
            return
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        raw = np.zeros((*shape[:-1], shape[-1] // block * size), np.uint8)
        self.w.add_tensor(name, raw, raw_dtype=qtype)

    def key(self, key: str, value: int) -> None:
        self.w.add_uint32(f"{self.arch}.{key}", value)

    def common(
        self, *, n_ctx_train: int, n_embd: int, n_layer: int, n_ff: int, n_head: int, n_head_kv: object
    ) -> None:
        w = self.w
        w.add_name(f"tiny-{self.arch}")
        w.add_context_length(n_ctx_train)
        w.add_embedding_length(n_embd)
        w.add_block_count(n_layer)
        w.add_feed_forward_length(n_ff)
        w.add_head_count(n_head)
        w.add_head_count_kv(n_head_kv)  # type: ignore[arg-type]
        w.add_layer_norm_rms_eps(1e-6)
        w.add_rope_freq_base(10000.0)
        w.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16))
        toks = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
        toks += [f"\u2581t{i}" for i in range(self.n_vocab - len(toks))]
        w.add_tokenizer_model("llama")
        w.add_token_list(toks)
        w.add_token_scores([-float(k) for k in range(self.n_vocab)])
        w.add_token_types([2, 3, 3, *([6] * 256), *([1] * (self.n_vocab - 259))])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)

    def embeddings(self, n_embd: int, qtype: QT = QT.F16) -> None:
        self.t("token_embd.weight", (n_embd, self.n_vocab), qtype)
        self.t("output_norm.weight", (n_embd,), QT.F32)
        self.t("output.weight", (n_embd, self.n_vocab), qtype)

    def attention(self, p: str, n_embd: int, q: int, kv: int, qtype: QT = QT.F16) -> None:
        self.t(p + "attn_q.weight", (n_embd, q), qtype)
        self.t(p + "attn_k.weight", (n_embd, kv), qtype)
        self.t(p + "attn_v.weight", (n_embd, kv), qtype)
        self.t(p + "attn_output.weight", (q, n_embd), qtype)

    def finish(self) -> None:
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        if self.header_only:
            self.w.write_ti_data_to_file()
        else:
            self.w.write_tensors_to_file()
        self.w.close()


def llama_gqa(path: Path, wtype: QT = QT.F16) -> None:
    """Plain Llama with GQA: 8 query heads, 2 KV heads, head_dim 64."""
    n_embd, n_layer, n_ff, n_head, n_kv, hd = 512, 4, 1536, 8, 2, 64
    m = Writer(path, "llama", 8192)
    m.common(n_ctx_train=8192, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, n_head=n_head, n_head_kv=n_kv)
    m.w.add_rope_dimension_count(hd)
    m.embeddings(n_embd, wtype)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.attention(p, n_embd, n_head * hd, n_kv * hd, wtype)
        _dense_ffn(m, p, n_embd, n_ff, wtype)
    m.finish()


def llama_moe(path: Path) -> None:
    """Llama with experts, as convert_hf_to_gguf.py writes a Mixtral (LLAMA, src/models/llama.cpp's MoE
    branch): 4 experts of n_ff rows, 2 used."""
    n_embd, n_layer, n_ff, n_head, n_kv, hd, n_expert, n_used = 256, 2, 384, 4, 2, 64, 4, 2
    m = Writer(path, "llama", 8192)
    m.common(n_ctx_train=32768, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, n_head=n_head, n_head_kv=n_kv)
    m.w.add_rope_dimension_count(hd)
    m.w.add_expert_count(n_expert)
    m.w.add_expert_used_count(n_used)
    m.embeddings(n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.attention(p, n_embd, n_head * hd, n_kv * hd)
        _moe_ffn(m, p, n_embd, n_ff, n_expert)
    m.finish()


def _qk_norm(m: Writer, p: str, hd: int) -> None:
    """Per-head K and Q norms (Qwen3, Qwen3-MoE)."""
    m.t(p + "attn_k_norm.weight", (hd,), QT.F32)
    m.t(p + "attn_q_norm.weight", (hd,), QT.F32)


def _moe_ffn(m: Writer, p: str, n_embd: int, n_ff_exp: int, n_expert: int) -> None:
    """The router and the stacked experts of a MoE layer (llama with experts, Qwen3-MoE)."""
    m.t(p + "ffn_norm.weight", (n_embd,), QT.F32)
    m.t(p + "ffn_gate_inp.weight", (n_embd, n_expert), QT.F32)
    m.t(p + "ffn_gate_exps.weight", (n_embd, n_ff_exp, n_expert))
    m.t(p + "ffn_down_exps.weight", (n_ff_exp, n_embd, n_expert))
    m.t(p + "ffn_up_exps.weight", (n_embd, n_ff_exp, n_expert))


def _dense_ffn(m: Writer, p: str, n_embd: int, n_ff: int, qtype: QT = QT.F16) -> None:
    m.t(p + "ffn_norm.weight", (n_embd,), QT.F32)
    for leaf, ne in (("ffn_gate", (n_embd, n_ff)), ("ffn_up", (n_embd, n_ff)), ("ffn_down", (n_ff, n_embd))):
        m.t(p + leaf + ".weight", ne, qtype)


def qwen3(path: Path) -> None:
    """Qwen3 dense (src/models/qwen3.cpp): per-head Q/K norms; head_dim 128 with n_embd 256 (Q is wider
    than the embedding, as in Qwen3-0.6B)."""
    n_embd, n_layer, n_ff, n_head, n_kv, hd = 256, 3, 768, 4, 2, 128
    m = Writer(path, "qwen3", 8192)
    m.common(n_ctx_train=40960, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, n_head=n_head, n_head_kv=n_kv)
    m.w.add_key_length(hd)
    m.w.add_value_length(hd)
    m.embeddings(n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.attention(p, n_embd, n_head * hd, n_kv * hd)
        _qk_norm(m, p, hd)
        _dense_ffn(m, p, n_embd, n_ff)
    m.finish()


def qwen2(path: Path) -> None:
    """Qwen2 (src/models/qwen2.cpp): Q, K and V projections with a bias, head_dim n_embd / n_head."""
    n_embd, n_layer, n_ff, n_head, n_kv = 256, 3, 640, 4, 2
    hd = n_embd // n_head
    m = Writer(path, "qwen2", 8192)
    m.common(n_ctx_train=32768, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, n_head=n_head, n_head_kv=n_kv)
    m.embeddings(n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.attention(p, n_embd, n_head * hd, n_kv * hd)
        for leaf, n in (("attn_q", n_head * hd), ("attn_k", n_kv * hd), ("attn_v", n_kv * hd)):
            m.t(p + leaf + ".bias", (n,), QT.F32)
        _dense_ffn(m, p, n_embd, n_ff)
    m.finish()


def qwen3moe(path: Path) -> None:
    n_embd, n_layer, n_head, n_kv, hd, n_expert, n_used, n_ff_exp = 256, 2, 4, 2, 64, 8, 2, 128
    m = Writer(path, "qwen3moe", 8192)
    m.common(
        n_ctx_train=4096,
        n_embd=n_embd,
        n_layer=n_layer,
        n_ff=n_ff_exp * n_used,
        n_head=n_head,
        n_head_kv=n_kv,
    )
    m.w.add_key_length(hd)
    m.w.add_value_length(hd)
    m.w.add_expert_count(n_expert)
    m.w.add_expert_used_count(n_used)
    m.w.add_expert_feed_forward_length(n_ff_exp)
    m.embeddings(n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.attention(p, n_embd, n_head * hd, n_kv * hd)
        _qk_norm(m, p, hd)
        _moe_ffn(m, p, n_embd, n_ff_exp, n_expert)
    m.finish()


def deepseek2_mla(path: Path) -> None:
    """DeepSeek-V2 MLA as convert_hf_to_gguf.py writes it today: key_length = kv_lora + rope, one KV head."""
    n_embd, n_layer, n_head, q_lora, kv_lora, rope, nope, vhd = 256, 2, 4, 64, 128, 32, 64, 64
    n_ff, n_expert, n_used, n_ff_exp = 512, 4, 2, 128
    m = Writer(path, "deepseek2", 8192)
    m.common(n_ctx_train=4096, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, n_head=n_head, n_head_kv=1)
    w = m.w
    w.add_vocab_size(8192)
    w.add_leading_dense_block_count(1)
    w.add_q_lora_rank(q_lora)
    w.add_kv_lora_rank(kv_lora)
    w.add_key_length(kv_lora + rope)
    w.add_value_length(kv_lora)
    w.add_key_length_mla(nope + rope)
    w.add_value_length_mla(vhd)
    w.add_expert_feed_forward_length(n_ff_exp)
    w.add_expert_count(n_expert)
    w.add_expert_used_count(n_used)
    w.add_expert_shared_count(1)
    w.add_expert_weights_scale(1.0)
    w.add_rope_dimension_count(rope)
    m.embeddings(n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.t(p + "attn_q_a_norm.weight", (q_lora,), QT.F32)
        m.t(p + "attn_kv_a_norm.weight", (kv_lora,), QT.F32)
        m.t(p + "attn_q_a.weight", (n_embd, q_lora))
        m.t(p + "attn_q_b.weight", (q_lora, n_head * (nope + rope)))
        m.t(p + "attn_kv_a_mqa.weight", (n_embd, kv_lora + rope))
        m.t(p + "attn_k_b.weight", (nope, kv_lora, n_head))
        m.t(p + "attn_v_b.weight", (kv_lora, vhd, n_head))
        m.t(p + "attn_output.weight", (n_head * vhd, n_embd))
        m.t(p + "ffn_norm.weight", (n_embd,), QT.F32)
        if i == 0:
            for leaf, ne in (
                ("ffn_gate", (n_embd, n_ff)),
                ("ffn_down", (n_ff, n_embd)),
                ("ffn_up", (n_embd, n_ff)),
            ):
                m.t(p + leaf + ".weight", ne)
            continue
        m.t(p + "ffn_gate_inp.weight", (n_embd, n_expert), QT.F32)
        m.t(p + "ffn_down_exps.weight", (n_ff_exp, n_embd, n_expert))
        m.t(p + "ffn_gate_exps.weight", (n_embd, n_ff_exp, n_expert))
        m.t(p + "ffn_up_exps.weight", (n_embd, n_ff_exp, n_expert))
        m.t(p + "ffn_gate_shexp.weight", (n_embd, n_ff_exp))
        m.t(p + "ffn_down_shexp.weight", (n_ff_exp, n_embd))
        m.t(p + "ffn_up_shexp.weight", (n_embd, n_ff_exp))
    m.finish()


def mamba(path: Path) -> None:
    n_embd, n_layer, d_conv, d_state, dt_rank = 256, 2, 4, 16, 16
    d_inner = 2 * n_embd
    m = Writer(path, "mamba", 8192)
    m.common(n_ctx_train=1048576, n_embd=n_embd, n_layer=n_layer, n_ff=0, n_head=0, n_head_kv=0)
    m.w.add_ssm_conv_kernel(d_conv)
    m.w.add_ssm_inner_size(d_inner)
    m.w.add_ssm_state_size(d_state)
    m.w.add_ssm_time_step_rank(dt_rank)
    m.embeddings(n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        m.t(p + "ssm_in.weight", (n_embd, 2 * d_inner))
        m.t(p + "ssm_conv1d.weight", (d_conv, d_inner), QT.F32)
        m.t(p + "ssm_conv1d.bias", (d_inner,), QT.F32)
        m.t(p + "ssm_x.weight", (d_inner, dt_rank + 2 * d_state))
        m.t(p + "ssm_dt.weight", (dt_rank, d_inner))
        m.t(p + "ssm_dt.bias", (d_inner,), QT.F32)
        m.t(p + "ssm_a", (d_state, d_inner), QT.F32)
        m.t(p + "ssm_d", (d_inner,), QT.F32)
        m.t(p + "ssm_out.weight", (d_inner, n_embd))
    m.finish()


def lfm2(path: Path) -> None:
    """LFM2 hybrid: layers with head_count_kv 0 are short-conv (recurrent) layers."""
    n_embd, n_layer, n_ff, n_head, hd, l_cache = 256, 4, 512, 4, 64, 3
    head_kv = [0, 2, 0, 2]
    m = Writer(path, "lfm2", 8192)
    m.common(n_ctx_train=8192, n_embd=n_embd, n_layer=n_layer, n_ff=n_ff, n_head=n_head, n_head_kv=head_kv)
    m.w.add_shortconv_l_cache(l_cache)
    m.t("token_embd.weight", (n_embd, 8192))
    m.t("token_embd_norm.weight", (n_embd,), QT.F32)
    for i in range(n_layer):
        p = f"blk.{i}."
        m.t(p + "ffn_norm.weight", (n_embd,), QT.F32)
        for leaf, ne in (
            ("ffn_gate", (n_embd, n_ff)),
            ("ffn_down", (n_ff, n_embd)),
            ("ffn_up", (n_embd, n_ff)),
        ):
            m.t(p + leaf + ".weight", ne)
        m.t(p + "attn_norm.weight", (n_embd,), QT.F32)
        if head_kv[i]:
            m.t(p + "attn_q_norm.weight", (hd,), QT.F32)
            m.t(p + "attn_k_norm.weight", (hd,), QT.F32)
            m.attention(p, n_embd, n_embd, head_kv[i] * hd)
        else:
            m.t(p + "shortconv.conv.weight", (l_cache, n_embd), QT.F32)
            m.t(p + "shortconv.in_proj.weight", (n_embd, 3 * n_embd))
            m.t(p + "shortconv.out_proj.weight", (n_embd, n_embd))
    m.finish()


MODELS: dict[str, Callable[[Path], None]] = {
    "tiny-llama-gqa-f16.gguf": llama_gqa,
    "tiny-llama-gqa-q4_0.gguf": lambda p: llama_gqa(p, QT.Q4_0),
    "tiny-llama-moe-f16.gguf": llama_moe,
    "tiny-qwen3moe-f16.gguf": qwen3moe,
    "tiny-qwen3-f16.gguf": qwen3,
    "tiny-qwen2-f16.gguf": qwen2,
    "tiny-deepseek2-mla-f16.gguf": deepseek2_mla,
    "tiny-mamba-f16.gguf": mamba,
    "tiny-lfm2-f16.gguf": lfm2,
}


def write_models(folder: Path, *, header_only: bool = False) -> dict[str, Path]:
    """Every model of :data:`MODELS` in ``folder`` (written once; an existing file is kept). ``header_only``
    files end after the tensor infos (for hubmem's tests: nothing past them is ever read)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    Writer.header_only = header_only
    try:
        for name, write in MODELS.items():
            path = folder / name
            if not path.exists():
                tmp = path.with_suffix(".tmp.gguf")
                write(tmp)
                tmp.rename(path)
            out[name] = path
    finally:
        Writer.header_only = False
    return out


if __name__ == "__main__":
    for name, path in write_models(Path(sys.argv[1] if len(sys.argv) > 1 else ".")).items():
        print(f"{name}: {path.stat().st_size:,} bytes")
