#!/usr/bin/env python3
"""Converts a DeepSeek-V2 checkpoint (by default the 4-layer V2-Lite-shaped benchmark checkpoint
~/.cache/dsv2/bench-lite-4l) to GGUF with llama.cpp's own tools, for the side-by-side comparison:

    python3 tools/compare_llamacpp/make_bench_gguf.py \
        --llama-cpp-src  /path/to/llama_cpp_python-0.3.36/vendor/llama.cpp \
        --llama-cpp-build /path/to/llama.cpp-build \
        --out /path/to/gguf [--model DIR] [--tokenizer DIR] [--types bf16,q8_0,q4_k_m]

1. A scratch directory OUT/scratch/<name>/ gets symlinks to the checkpoint's files plus a copy
   of the tokenizer (tests/fixtures/tokenizers/deepseek-v2 unless --tokenizer; the benchmark
   checkpoint has none). The checkpoint itself is only read.
2. The vendored convert_hf_to_gguf.py writes OUT/<name>-bf16.gguf (run in this process, in
   tools/fixtures/.venv - it needs torch - with the two changes listed under PATCHES; the
   vendored files are not edited).
3. llama-quantize (from --llama-cpp-build) writes OUT/<name>-q8_0.gguf and OUT/<name>-q4_k_m.gguf
   from the bf16 file.
4. Every file gets OUT/<name>-<type>.json (tensors with types and dims, metadata), and the bf16
   file is checked tensor by tensor, bit for bit, against the checkpoint under the documented
   name/layout mapping (attn_k_b / attn_v_b split of kv_b_proj, stacked experts).

Nothing from llama.cpp is copied into the repository. See tools/compare_llamacpp/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "fixtures"))
import make_fixtures  # noqa: E402  (bootstrap of the torch environment)
import make_gguf_model_fixtures as fx  # noqa: E402  (describe / dump_description)

PATCHES = [
    "get_vocab_base_pre: the converter identifies the pre-tokenizer by hashing the ids of a test "
    "string as transformers 4.x returns them (with the BOS token that tokenizer_config.json's "
    "add_bos_token asks for). transformers 5.24 omits that BOS, so DeepSeek-V2's tokenizer hashes "
    "to 99ecacb4... instead of 049ecf76... ('deepseek-llm'). When the converter's own lookup "
    "fails, the wrapper repeats it with the BOS id prepended (the ids are otherwise identical).",
    "set_gguf_parameters: when config.json has q_lora_rank null, the wrapper also writes "
    "deepseek2.attention.q_lora_rank = 0. llama.cpp reads that key as required unless "
    "block_count is 26 or 27 (its V2-Lite heuristic), so without it a V2-Lite-shaped model of "
    "another depth fails to load ('key not found in model: deepseek2.attention.q_lora_rank').",
]


def patch_converter() -> None:
    import gguf
    from conversion import base, deepseek

    original_pre = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original_pre(self, tokenizer)
        except NotImplementedError:
            bos = getattr(tokenizer, "bos_token_id", None)
            if bos is None:
                raise

            class WithBos:
                def __init__(self, tok):
                    self.tok = tok

                def encode(self, text, **kw):
                    ids = list(self.tok.encode(text, **kw))
                    return ids if ids[:1] == [bos] else [bos] + ids

                def __getattr__(self, name):
                    return getattr(self.tok, name)

            print(f"[make_bench_gguf] pre-tokenizer hash unknown; retrying with BOS {bos} prepended", flush=True)
            return original_pre(self, WithBos(tokenizer))

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre

    original_params = deepseek.DeepseekV2Model.set_gguf_parameters

    def set_gguf_parameters(self):
        original_params(self)
        if self.hparams.get("q_lora_rank") is None:
            self.gguf_writer.add_q_lora_rank(0)

    deepseek.DeepseekV2Model.set_gguf_parameters = set_gguf_parameters
    assert gguf  # the vendored gguf-py (convert_hf_to_gguf puts it on sys.path)


def convert(src: str, model_dir: str, outfile: str, outtype: str) -> None:
    fx.run_vendored_converter(src, [model_dir, "--outtype", outtype, "--outfile", outfile], patch_converter)


def scratch_dir(model: str, tokenizer: str, dest: str) -> str:
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for name in sorted(os.listdir(model)):
        if name.startswith("tokenizer"):
            continue
        os.symlink(os.path.join(os.path.abspath(model), name), os.path.join(dest, name))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer, name), os.path.join(dest, name))
    return dest


def verify_bf16(path: str, model_dir: str) -> str:
    """Bit-exact check of a bf16/f32 GGUF against the checkpoint's tensors (bf16 or f32)."""
    import numpy as np
    import torch
    import gguf
    from safetensors import safe_open
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            where = json.load(f)["weight_map"]
    else:
        where = {}
        with safe_open(os.path.join(model_dir, "model.safetensors"), "pt") as f:
            where = {k: "model.safetensors" for k in f.keys()}
    handles = {}

    def hf(name: str) -> torch.Tensor:
        fn = where[name]
        if fn not in handles:
            handles[fn] = safe_open(os.path.join(model_dir, fn), "pt")
        return handles[fn].get_tensor(name)

    H, nope, vd, rank = (cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["v_head_dim"],
                         cfg["kv_lora_rank"])
    simple = {gg: hf for hf, gg in fx.HF_TO_GGUF_LAYER.items()}  # GGUF kind -> transformers' name
    top = fx.GGUF_TOP_TENSORS

    def expected(name: str) -> torch.Tensor:
        if name in top:
            return hf(top[name])
        _, i, kind, _ = name.split(".")
        p = f"model.layers.{i}."
        if kind in simple:
            return hf(p + simple[kind] + ".weight")
        if kind in ("attn_k_b", "attn_v_b"):
            kv_b = hf(p + "self_attn.kv_b_proj.weight").view(H, nope + vd, rank)
            if kind == "attn_k_b":   # ne [nope, rank, H]: (i, c, h) = kv_b[h*(nope+vd) + i, c]
                return kv_b[:, :nope, :].transpose(1, 2)
            return kv_b[:, nope:, :]  # ne [rank, vd, H]: (c, j, h) = kv_b[h*(nope+vd) + nope + j, c]
        if kind.endswith("_exps"):   # ne [in, out, E]: expert e = experts.e.<proj>.weight
            proj = {"ffn_gate_exps": "gate_proj", "ffn_up_exps": "up_proj", "ffn_down_exps": "down_proj"}[kind]
            return torch.stack([hf(p + f"mlp.experts.{e}.{proj}.weight") for e in range(cfg["n_routed_experts"])])
        raise KeyError(name)

    r = gguf.GGUFReader(path)
    counts: dict[str, int] = {}
    for t in r.tensors:
        want = expected(t.name)
        ne = [int(d) for d in t.shape]
        if ne != list(reversed(want.shape)):
            raise SystemExit(f"{path}: {t.name}: ne {ne}, expected {list(reversed(want.shape))}")
        kind = t.tensor_type.name
        if kind == "BF16":
            got = np.asarray(t.data).view(np.uint16).reshape(want.shape)
            ref = want.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)
            if want.dtype not in (torch.bfloat16,):
                raise SystemExit(f"{path}: {t.name}: BF16 from {want.dtype} is not checked bit-exactly")
        elif kind == "F32":
            got = np.asarray(t.data).reshape(want.shape)
            ref = want.float().numpy()
        else:
            raise SystemExit(f"{path}: {t.name}: type {kind} is not checked here")
        if not np.array_equal(got, ref):
            raise SystemExit(f"{path}: {t.name} ({kind}) differs from the checkpoint")
        counts[kind] = counts.get(kind, 0) + 1
    return f"{len(r.tensors)} tensors bit-identical to the checkpoint (" + \
        ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/dsv2/bench-lite-4l"))
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "tests", "fixtures", "tokenizers", "deepseek-v2"))
    ap.add_argument("--llama-cpp-src", required=True, help="llama.cpp source tree (has convert_hf_to_gguf.py)")
    ap.add_argument("--llama-cpp-build", required=True, help="llama.cpp build dir (has bin/llama-quantize)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", help="file name stem (default: the model directory's name)")
    ap.add_argument("--types", default="bf16,q8_0,q4_k_m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-verify", action="store_true")
    args = ap.parse_args()
    make_fixtures.bootstrap(__file__)

    name = args.name or os.path.basename(os.path.normpath(args.model))
    os.makedirs(args.out, exist_ok=True)
    types = args.types.split(",")
    base_file = os.path.join(args.out, f"{name}-bf16.gguf")
    if "bf16" in types or not os.path.exists(base_file):
        # the converter derives general.name from the directory's name: keep the model's
        scratch = scratch_dir(args.model, args.tokenizer, os.path.join(args.out, "scratch", name))
        convert(os.path.abspath(args.llama_cpp_src), scratch, base_file, "bf16")
    else:
        sys.path.insert(0, os.path.join(os.path.abspath(args.llama_cpp_src), "gguf-py"))
    outputs = [base_file]
    quantize = os.path.join(args.llama_cpp_build, "bin", "llama-quantize")
    for t in types:
        if t == "bf16":
            continue
        out = os.path.join(args.out, f"{name}-{t}.gguf")
        cmd = [quantize, base_file, out, t.upper(), str(args.threads)]
        print("+ " + " ".join(cmd), flush=True)
        subprocess.check_call(cmd)
        outputs.append(out)
    for path in outputs:
        desc = fx.describe(path)
        with open(os.path.splitext(path)[0] + ".json", "w") as f:
            f.write(fx.dump_description(desc))
        by_type: dict[str, int] = {}
        for t in desc["tensors"]:
            by_type[t["type"]] = by_type.get(t["type"], 0) + 1
        print(f"{os.path.basename(path)}: {desc['size']} bytes, {len(desc['tensors'])} tensors {by_type}", flush=True)
    if not args.no_verify:
        print(verify_bf16(base_file, args.model), flush=True)
    print("patches applied to the converter:\n  - " + "\n  - ".join(PATCHES))


if __name__ == "__main__":
    main()
