#!/usr/bin/env python3
"""KL divergence of quantised GGUFs against their base, by llama.cpp and by dsv2, side by side.

    python3 tools/compare_llamacpp/kl_vs_llamacpp.py \
        --llama-cpp-build /work/peers/llama.cpp-build \
        --base /work/peers/gguf/bench-lite-4l-bf16.gguf \
        --quant /work/peers/gguf/bench-lite-4l-q8_0.gguf --quant /work/peers/gguf/bench-lite-4l-q4_k_m.gguf \
        --text tools/demo/data/tinyshakespeare.txt [--ctx 512] [--chunks 8] [--threads 2] \
        [--dsv2 build/release/tools/cli/dsv2] [--dsv2-reference DIR] [--work /tmp/kl_vs_llamacpp]

What it runs (llama.cpp's binaries from --llama-cpp-build/bin; nothing of llama.cpp is copied):

1. `llama-tokenize -m BASE -f TEXT --ids --log-disable` (with --no-bos): the text's ids as
   llama.cpp's tokenizer makes them. dsv2 gets the same ids (--ids), so both score the same tokens.
2. `llama-perplexity -m BASE -f TEXT -c CTX --chunks K --kl-divergence-base WORK/base.kld`: the
   base's perplexity, and its log-probabilities saved for step 3.
3. for each --quant Q: `llama-perplexity -m Q --kl-divergence-base WORK/base.kld --kl-divergence`.
4. for each --quant Q: `dsv2 perplexity Q --reference REF --ids WORK/ids.txt --ctx CTX --chunks K
   --json ...`, REF = --dsv2-reference or BASE (dsv2 loads llama.cpp's GGUFs in place, so by
   default both programs evaluate the same weight bytes).

BOS: llama-perplexity replaces the first token of each chunk with BOS when the GGUF's
tokenizer.ggml.add_bos_token is true. The bench GGUFs have it false (tools/compare_llamacpp/
README.md), so dsv2 is run with --no-bos by default; pass --bos when the GGUF adds one.

Differences to expect in the numbers (docs/quantization.md, "Accuracy"): llama.cpp stores the
base log-probabilities as 16-bit values per token and skips terms with log p < −16 in the KL sum;
dsv2 sums the whole vocabulary in double. Both compute Δp for the next token's probability and
interpolate percentiles the same way. The model's logits themselves differ by each program's
kernels (activation quantisation is the same scheme; accumulation orders differ).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

# llama-perplexity's summary lines (tools/perplexity/perplexity.cpp, kl_divergence(), at llama.cpp
# 0c1e570: "Mean    KLD: %10.6lf ± %10.6lf", "RMS Δp    : %6.3lf ± %5.3lf %%", ...): label -> key
LLAMA_LINES = [
    (r"Mean PPL\(Q\)\s*:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", "ppl"),
    (r"Mean PPL\(base\)\s*:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", "ref_ppl"),
    (r"Mean\s+KLD:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)", "kl_mean"),
    (r"Maximum KLD:\s*([-\d.eE+]+)", "kl_max"),
    (r"99\.9%\s+KLD:\s*([-\d.eE+]+)", "kl_p999"),
    (r"99\.0%\s+KLD:\s*([-\d.eE+]+)", "kl_p99"),
    (r"Median\s+KLD:\s*([-\d.eE+]+)", "kl_median"),
    (r"RMS Δp\s*:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)\s*%", "rms_dp_pct"),
    (r"Same top p:\s*([-\d.eE+]+)\s*±\s*([-\d.eE+]+)\s*%", "top1_pct"),
]


def parse_llama_kld(text: str) -> dict:
    out = {}
    for pattern, key in LLAMA_LINES:
        m = re.search(pattern, text)
        if m:
            out[key] = float(m.group(1))
            if m.lastindex and m.lastindex >= 2:
                out[key + "_se"] = float(m.group(2))
    return out


def parse_llama_ppl(text: str) -> dict:
    m = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", text)
    return {"ppl": float(m.group(1)), "ppl_se": float(m.group(2))} if m else {}


def from_dsv2(j: dict) -> dict:
    return {
        "ppl": j["perplexity"], "ppl_se": j["perplexity_se"],
        "ref_ppl": j.get("reference_perplexity"), "ref_ppl_se": j.get("reference_perplexity_se"),
        "kl_mean": j.get("kl_mean"), "kl_mean_se": j.get("kl_mean_se"), "kl_median": j.get("kl_median"),
        "kl_p99": j.get("kl_p99"), "kl_p999": j.get("kl_p999"), "kl_max": j.get("kl_max"),
        "top1_pct": 100 * j["top1_agreement"] if "top1_agreement" in j else None,
        "top1_pct_se": 100 * j["top1_agreement_se"] if "top1_agreement_se" in j else None,
        "rms_dp_pct": 100 * j["rms_dp"] if "rms_dp" in j else None,
        "rms_dp_pct_se": 100 * j["rms_dp_se"] if "rms_dp_se" in j else None,
        "positions": j.get("scored_positions"),
    }


def run(cmd: list[str], log_path: str) -> str:
    print("+ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    with open(log_path, "w") as f:
        f.write(p.stdout)
    if p.returncode != 0:
        sys.exit(f"error: {cmd[0]} exited with {p.returncode}; its output is in {log_path}")
    return p.stdout


def fmt(v, se=None, digits=6):
    if v is None:
        return "-"
    s = f"{v:.{digits}f}"
    return s + (f" ± {se:.{digits}f}" if se is not None else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp-build", required=True, help="llama.cpp build dir (with bin/llama-perplexity)")
    ap.add_argument("--base", required=True, help="the base GGUF (bf16/f32), with a tokenizer")
    ap.add_argument("--quant", action="append", required=True, help="a quantised GGUF (repeatable)")
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dsv2", default=os.path.join(REPO, "build", "release", "tools", "cli", "dsv2"))
    ap.add_argument("--dsv2-reference", help="dsv2's reference model (default: --base)")
    ap.add_argument("--bos", action="store_true", help="the GGUF adds BOS (tokenizer.ggml.add_bos_token true)")
    ap.add_argument("--work", default="/tmp/kl_vs_llamacpp")
    args = ap.parse_args()

    binary = lambda name: os.path.join(args.llama_cpp_build, "bin", name)  # noqa: E731
    for name in ("llama-perplexity", "llama-tokenize"):
        if not os.access(binary(name), os.X_OK):
            sys.exit(f"error: {binary(name)} not found (build llama.cpp as tools/compare_llamacpp/README.md says)")
    if not os.access(args.dsv2, os.X_OK):
        sys.exit(f"error: {args.dsv2} not found (cmake --build build/release --target dsv2_cli)")
    os.makedirs(args.work, exist_ok=True)
    w = lambda name: os.path.join(args.work, name)  # noqa: E731
    threads = ["-t", str(args.threads)]

    # 1. llama.cpp's ids of the text, for dsv2
    tok_cmd = [binary("llama-tokenize"), "-m", args.base, "-f", args.text, "--ids", "--log-disable"]
    if not args.bos:
        tok_cmd.append("--no-bos")
    ids_out = run(tok_cmd, w("tokenize.log"))
    m = re.search(r"\[([\d,\s]*)\]", ids_out)
    if not m:
        sys.exit(f"error: no id list in llama-tokenize's output ({w('tokenize.log')})")
    ids = [int(x) for x in m.group(1).replace(",", " ").split()]
    with open(w("ids.txt"), "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    print(f"{len(ids)} tokens; {args.chunks} chunks of {args.ctx}", flush=True)

    # 2. the base
    common = ["-c", str(args.ctx), "--chunks", str(args.chunks), *threads]
    base_out = run([binary("llama-perplexity"), "-m", args.base, "-f", args.text, *common,
                    "--kl-divergence-base", w("base.kld")], w("llama-base.log"))
    base_ppl = parse_llama_ppl(base_out)

    rows = []
    for q in args.quant:
        name = os.path.splitext(os.path.basename(q))[0]
        # 3. llama.cpp
        out = run([binary("llama-perplexity"), "-m", q, *threads, "--kl-divergence-base", w("base.kld"),
                   "--kl-divergence"], w(f"llama-{name}.log"))
        llama = parse_llama_kld(out)
        # 4. dsv2 on the same ids
        cmd = [args.dsv2, "perplexity", q, "--reference", args.dsv2_reference or args.base, "--ids", w("ids.txt"),
               "--ctx", str(args.ctx), "--chunks", str(args.chunks), "--threads", str(args.threads),
               "--json", w(f"dsv2-{name}.json")]
        if not args.bos:
            cmd.append("--no-bos")
        run(cmd, w(f"dsv2-{name}.log"))
        with open(w(f"dsv2-{name}.json")) as f:
            dsv2 = from_dsv2(json.load(f))
        rows.append((name, llama, dsv2))

    print()
    if base_ppl:
        print(f"llama.cpp base perplexity: {fmt(base_ppl['ppl'], base_ppl['ppl_se'], 4)}")
    metrics = [("PPL(Q)", "ppl", 4), ("PPL(base)", "ref_ppl", 4), ("mean KL", "kl_mean", 6), ("median KL", "kl_median", 6),
               ("99 % KL", "kl_p99", 6), ("99.9 % KL", "kl_p999", 6), ("max KL", "kl_max", 6),
               ("same top %", "top1_pct", 3), ("RMS Δp %", "rms_dp_pct", 4)]
    for name, llama, dsv2 in rows:
        print(f"\n{name}  ({dsv2.get('positions')} scored positions)")
        print(f"  {'':12} {'llama.cpp':>28} {'dsv2':>28}")
        for label, key, digits in metrics:
            print(f"  {label:12} {fmt(llama.get(key), llama.get(key + '_se'), digits):>28} "
                  f"{fmt(dsv2.get(key), dsv2.get(key + '_se'), digits):>28}")
    with open(w("summary.json"), "w") as f:
        json.dump({n: {"llama.cpp": l, "dsv2": d} for n, l, d in rows}, f, indent=2)
    print(f"\nlogs and {w('summary.json')} in {args.work}")


if __name__ == "__main__":
    main()
