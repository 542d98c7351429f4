#!/usr/bin/env python3
"""Writes a full-depth DeepSeek-V2-Lite-shaped deepseek2 GGUF with random Q4_K_M weights, streamed
tensor by tensor (peak memory: one tensor), for the "does it fit and run on a 24 GB machine" check
of issue 12. Never commit its output (≈ 9.6 GB for the Lite config).

    python3 tools/compare_llamacpp/make_random_lite_gguf.py --out /tmp/lite-27l-q4_k_m.gguf
    python3 tools/compare_llamacpp/make_random_lite_gguf.py --out /tmp/x.gguf --layers 2   # quick

The config is examples/models/deepseek-v2-lite/config.json (27 layers, 64 routed experts top-6, 2
shared, no q LoRA, yarn). The layout and tensor types are those dsv2's `save_gguf` (and llama.cpp's
converter + llama-quantize Q4_K_M) write: fused ffn_*_exps, kv_b split into attn_k_b / attn_v_b,
norms and ffn_gate_inp F32, Q4_K by default, output and the ffn_down tensors of
use_more_bits(i, L) layers Q6_K, row widths that are not whole 256-blocks falling back to Q5_0
(for Q4_K) or Q8_0 (for Q6_K). The quantised blocks are random bytes with their f16 scales set so
that weights have magnitudes of a few hundredths (no NaN/Inf scale can occur); norms are ones.
Runs in tools/fixtures/.venv-gguf (gguf-py pinned in tools/fixtures/requirements-gguf.txt).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tools", "fixtures")


def bootstrap() -> None:
    sys.path.insert(0, FIXTURES)
    import pinned_venv
    pinned_venv.bootstrap(os.path.join(FIXTURES, "requirements-gguf.txt"), os.path.join(FIXTURES, ".venv-gguf"), __file__)


# bytes per block and values per block of the types used here
BLOCK = {"Q4_K": (144, 256), "Q6_K": (210, 256), "Q5_0": (22, 32), "Q8_0": (34, 32), "F32": (4, 1)}


def use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def with_fallback(t: str, cols: int) -> str:
    if cols % BLOCK[t][1] == 0:
        return t
    fb = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}[t]
    if cols % BLOCK[fb][1] == 0:
        return fb
    raise SystemExit(f"row width {cols} is not a multiple of 32 (F16 fallback not implemented here)")


def tensor_type(name: str, cols: int, layers: int) -> str:
    if "ffn_gate_inp" in name or "_norm." in name:
        return "F32"
    if name == "output.weight":
        return with_fallback("Q6_K", cols)
    if "ffn_down" in name and use_more_bits(int(name.split(".")[1]), layers):
        return with_fallback("Q6_K", cols)
    return with_fallback("Q4_K", cols)


def plan(c: dict, layers: int) -> list[tuple[str, list[int]]]:
    """(name, GGUF dims fastest first) in llama.cpp's order."""
    H, V, nh = c["hidden_size"], c["vocab_size"], c["num_attention_heads"]
    dn, dr, dv, C = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
    E, I, Ie = c["n_routed_experts"], c["intermediate_size"], c["moe_intermediate_size"]
    Is = Ie * c["n_shared_experts"]
    if c.get("q_lora_rank") is not None:
        raise SystemExit("this script writes the Lite layout (q_lora_rank null)")
    out = [("token_embd.weight", [H, V])]
    for i in range(layers):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", [H]),
                (b + "attn_q.weight", [H, nh * (dn + dr)]),
                (b + "attn_kv_a_mqa.weight", [H, C + dr]),
                (b + "attn_kv_a_norm.weight", [C]),
                (b + "attn_k_b.weight", [dn, C, nh]),
                (b + "attn_v_b.weight", [C, dv, nh]),
                (b + "attn_output.weight", [nh * dv, H]),
                (b + "ffn_norm.weight", [H])]
        if i < c["first_k_dense_replace"]:
            out += [(b + "ffn_gate.weight", [H, I]), (b + "ffn_up.weight", [H, I]), (b + "ffn_down.weight", [I, H])]
        else:
            out += [(b + "ffn_gate_inp.weight", [H, E]),
                    (b + "ffn_gate_exps.weight", [H, Ie, E]), (b + "ffn_up_exps.weight", [H, Ie, E]),
                    (b + "ffn_down_exps.weight", [Ie, H, E]),
                    (b + "ffn_gate_shexp.weight", [H, Is]), (b + "ffn_up_shexp.weight", [H, Is]),
                    (b + "ffn_down_shexp.weight", [Is, H])]
    out += [("output_norm.weight", [H]), ("output.weight", [H, V])]
    return out


def random_blocks(np, rng, t: str, nblocks: int):
    """nblocks random blocks of type t as a uint8 array [nblocks, bytes], scales set to sane values."""
    size, _ = BLOCK[t]
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    f16 = lambda x: np.frombuffer(np.float16(x).tobytes(), dtype=np.uint8)
    if t == "Q4_K":      # d, dmin (f16), scales[12], qs[128]: w = d·sc·q − dmin·m, sc, m < 64, q < 16
        raw[:, 0:2] = f16(1e-4)
        raw[:, 2:4] = f16(5e-4)
    elif t == "Q6_K":    # ql[128], qh[64], scales[16] (int8), d (f16): w = d·sc·(q − 32)
        raw[:, 208:210] = f16(1e-5)
    elif t == "Q5_0":    # d (f16), qh[4], qs[16]: w = d·(q − 16)
        raw[:, 0:2] = f16(2e-3)
    elif t == "Q8_0":    # d (f16), qs[32] (int8): w = d·q
        raw[:, 0:2] = f16(2e-4)
    return raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default=os.path.join(ROOT, "examples", "models", "deepseek-v2-lite", "config.json"))
    ap.add_argument("--layers", type=int, help="fewer layers than the config (a quick check)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bootstrap()
    import numpy as np
    import gguf

    with open(args.config) as f:
        c = json.load(f)
    L = args.layers or c["num_hidden_layers"]
    rs = c["rope_scaling"]
    rng = np.random.default_rng(args.seed)

    w = gguf.GGUFWriter(args.out, "deepseek2")
    a = "deepseek2."
    w.add_string("general.type", "model")
    w.add_string("general.name", f"random DeepSeek-V2-Lite-shaped, {L} layers (dsv2 make_random_lite_gguf.py)")
    w.add_uint32("general.file_type", 15)  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    w.add_uint32("general.quantization_version", 2)
    u = lambda k, v: w.add_uint32(a + k, int(v))
    f = lambda k, v: w.add_float32(a + k, float(v))
    u("block_count", L)
    u("context_length", c["max_position_embeddings"])
    u("embedding_length", c["hidden_size"])
    u("feed_forward_length", c["intermediate_size"])
    u("attention.head_count", c["num_attention_heads"])
    u("attention.head_count_kv", 1)
    f("rope.freq_base", c["rope_theta"])
    f("attention.layer_norm_rms_epsilon", c["rms_norm_eps"])
    u("leading_dense_block_count", c["first_k_dense_replace"])
    u("vocab_size", c["vocab_size"])
    u("attention.q_lora_rank", 0)
    u("attention.kv_lora_rank", c["kv_lora_rank"])
    u("attention.key_length", c["kv_lora_rank"] + c["qk_rope_head_dim"])
    u("attention.value_length", c["kv_lora_rank"])
    u("attention.key_length_mla", c["qk_nope_head_dim"] + c["qk_rope_head_dim"])
    u("attention.value_length_mla", c["v_head_dim"])
    u("rope.dimension_count", c["qk_rope_head_dim"])
    u("expert_feed_forward_length", c["moe_intermediate_size"])
    u("expert_count", c["n_routed_experts"])
    u("expert_used_count", c["num_experts_per_tok"])
    u("expert_shared_count", c["n_shared_experts"])
    f("expert_weights_scale", c["routed_scaling_factor"])
    u("expert_gating_func", 1)
    u("expert_group_count", c["n_group"])
    u("expert_group_used_count", c["topk_group"])
    w.add_string(a + "rope.scaling.type", "yarn")
    f("rope.scaling.factor", rs["factor"])
    u("rope.scaling.original_context_length", rs["original_max_position_embeddings"])
    f("rope.scaling.yarn_beta_fast", rs["beta_fast"])
    f("rope.scaling.yarn_beta_slow", rs["beta_slow"])
    f("rope.scaling.yarn_log_multiplier", 0.1 * rs["mscale_all_dim"])
    w.add_string("tokenizer.ggml.model", "none")
    w.add_uint32("tokenizer.ggml.bos_token_id", c["bos_token_id"])
    w.add_uint32("tokenizer.ggml.eos_token_id", c["eos_token_id"])

    tensors = plan(c, L)
    types = {}
    total = 0
    for name, dims in tensors:
        t = tensor_type(name, dims[0], L)
        types[name] = t
        size, per = BLOCK[t]
        rows = int(np.prod(dims[1:])) if len(dims) > 1 else 1
        row_bytes = dims[0] // per * size
        nbytes = rows * row_bytes
        total += nbytes
        # numpy shape: dims reversed, the last one in bytes (gguf-py converts it back for quantised types)
        shape = list(reversed(dims[1:])) + [row_bytes]
        if t == "F32":
            w.add_tensor_info(name, list(reversed(dims)), np.dtype(np.float32), nbytes)
        else:
            w.add_tensor_info(name, shape, np.dtype(np.uint8), nbytes, raw_dtype=getattr(gguf.GGMLQuantizationType, t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, dims in tensors:
        t = types[name]
        if t == "F32":
            n = int(np.prod(dims))
            data = (np.ones(n, np.float32) if name.endswith("norm.weight")
                    else rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)).reshape(list(reversed(dims)))
        else:
            size, per = BLOCK[t]
            nblocks = int(np.prod(dims)) // per
            data = random_blocks(np, rng, t, nblocks)
        w.write_tensor_data(data)
    w.close()
    print(f"wrote {args.out}: {len(tensors)} tensors, {total / 1e9:.2f} GB of tensor data, "
          f"{os.path.getsize(args.out) / 1e9:.2f} GB file; types: "
          + ", ".join(f"{k} {sum(1 for v in types.values() if v == k)}" for k in sorted(set(types.values()))))


if __name__ == "__main__":
    main()
