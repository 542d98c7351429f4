#!/usr/bin/env python3
"""dsv2 against llama.cpp on the same GGUF files, in one run on one machine, alternating.

    python3 tools/compare_llamacpp/compare.py \
        --gguf q8_0=/work/peers/gguf/bench-lite-4l-q8_0.gguf --gguf q4_k_m=/work/peers/gguf/bench-lite-4l-q4_k_m.gguf \
        --llama-bench /work/peers/llama.cpp-build/bin/llama-bench --threads 1,2 --rounds 2 --json out.json

For every round, file and thread count it runs, one after the other:
  llama.cpp  llama-bench -m FILE -p PREFILL -n DECODE -r 1 -t T -o json   (pp: prefill tokens/s; tg: decode
             tokens/s from an empty context)
  dsv2       dsv2 generate FILE --ids <PROMPT random ids> --max-new-tokens DECODE+1 --greedy   (decode tokens/s
             after a PROMPT-token prompt), and dsv2 generate FILE --ids <PREFILL ids> --max-new-tokens 1
             (prefill tokens/s)
with OMP_NUM_THREADS=T for dsv2. Peak RSS is wait4()'s ru_maxrss of each process. The median over
rounds is reported, with the ratios dsv2 / llama.cpp, the CPU model and the load average. The
bytes each decoded token reads (every tensor except the routed experts, plus top-k/E of those, plus
one embedding row) come from the file's tensor table (gguf-py, tools/fixtures/.venv-gguf), so the
table also says how many GB/s each engine streams while decoding.

llama.cpp is built from source outside this repository (tools/compare_llamacpp/README.md); nothing
of it is copied here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> float:
    return os.getloadavg()[0]


def peak_rss_of(cmd: list[str], env: dict | None = None) -> tuple[str, float]:
    """stdout and ru_maxrss (GB) of exactly this child (wait4 on its pid)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed:\n{err[-2000:]}")
    return out, usage.ru_maxrss / 1e6


def bytes_per_decoded_token(path: str) -> float:
    """Bytes of the tensors one decoded token reads: all but the routed experts, k/E of those, one embedding row."""
    import glob
    sys.path[:0] = glob.glob(os.path.join(REPO, "tools", "fixtures", ".venv-gguf", "lib", "python3*", "site-packages"))
    try:
        import gguf  # type: ignore
    except ImportError:
        return float("nan")
    r = gguf.GGUFReader(path)
    k = E = None
    for f in r.fields.values():
        if f.name.endswith(".expert_used_count"):
            k = int(f.contents())
        if f.name.endswith(".expert_count"):
            E = int(f.contents())
    total = 0.0
    for t in r.tensors:
        n = int(t.n_bytes)
        if "_exps." in t.name and k and E:
            total += n * k / E
        elif t.name == "token_embd.weight":
            total += n / int(t.shape[-1])  # one row
        else:
            total += n
    return total


def llama_bench(exe: str, path: str, threads: int, prefill: int, decode: int) -> dict:
    out, rss = peak_rss_of([exe, "-m", path, "-p", str(prefill), "-n", str(decode), "-r", "1", "-t", str(threads), "-o", "json"])
    rows = json.loads(out)
    res = {"rss_gb": rss}
    for row in rows:
        if row.get("n_prompt", 0) > 0 and row.get("n_gen", 0) == 0:
            res["prefill_tps"] = row["avg_ts"]
        if row.get("n_gen", 0) > 0 and row.get("n_prompt", 0) == 0:
            res["decode_tps"] = row["avg_ts"]
    return res


LINE = re.compile(r"\[prefill (\d+) tokens, ([\d.]+) tok/s \| decode (\d+) tokens, ([\d.]+) tok/s")


def dsv2_run(exe: str, path: str, threads: int, prompt: int, prefill: int, decode: int, vocab: int, seed: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    rng = random.Random(seed)
    ids = ",".join(str(rng.randrange(3, vocab)) for _ in range(prompt))
    out, rss = peak_rss_of([exe, "generate", path, "--ids", ids, "--max-new-tokens", str(decode + 1), "--greedy"], env)
    m = LINE.search(out)
    res = {"decode_tps": float(m.group(4)), "rss_gb": rss}
    ids = ",".join(str(rng.randrange(3, vocab)) for _ in range(prefill))
    out, rss2 = peak_rss_of([exe, "generate", path, "--ids", ids, "--max-new-tokens", "1", "--greedy"], env)
    m = LINE.search(out)
    res["prefill_tps"] = float(m.group(2))
    res["rss_prefill_gb"] = rss2
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", action="append", required=True, help="LABEL=PATH (repeatable)")
    ap.add_argument("--llama-bench", default="/work/peers/llama.cpp-build/bin/llama-bench")
    ap.add_argument("--dsv2", default=os.path.join(REPO, "build", "release", "tools", "cli", "dsv2"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=100000)
    ap.add_argument("--json")
    a = ap.parse_args()
    files = [tuple(g.split("=", 1)) for g in a.gguf]
    threads = [int(t) for t in a.threads.split(",")]
    meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_start": loadavg(), "settings": vars(a)}
    samples: dict = {}
    for rnd in range(a.rounds):
        for label, path in files:
            for t in threads:
                key = f"{label} t{t}"
                s = samples.setdefault(key, {"llama.cpp": [], "dsv2": [], "load": []})
                s["load"].append(loadavg())
                s["llama.cpp"].append(llama_bench(a.llama_bench, path, t, a.prefill, a.decode))
                s["dsv2"].append(dsv2_run(a.dsv2, path, t, a.prompt, a.prefill, a.decode, a.vocab, seed=rnd))
                print(f"round {rnd + 1} {key}: llama.cpp {s['llama.cpp'][-1]}  dsv2 {s['dsv2'][-1]}", flush=True)
    meta["load_end"] = loadavg()
    print(f"\n{meta['cpu']}, {meta['cores']} CPUs, load {meta['load_start']:.1f} -> {meta['load_end']:.1f}; median of {a.rounds}")
    print(f"{'file / threads':18} {'engine':10} {'prefill tok/s':>14} {'decode tok/s':>13} {'GB/s decode':>12} {'peak RSS GB':>12}")
    table = {}
    for label, path in files:
        bpt = bytes_per_decoded_token(path)
        size = os.path.getsize(path) / 1e9
        for t in threads:
            key = f"{label} t{t}"
            row = {}
            for eng in ("llama.cpp", "dsv2"):
                runs = samples[key][eng]
                pre = statistics.median(r["prefill_tps"] for r in runs)
                dec = statistics.median(r["decode_tps"] for r in runs)
                rss = max(r["rss_gb"] for r in runs)
                row[eng] = {"prefill_tps": pre, "decode_tps": dec, "peak_rss_gb": rss, "decode_gbs": dec * bpt / 1e9}
                print(f"{key:18} {eng:10} {pre:14.1f} {dec:13.2f} {dec * bpt / 1e9:12.2f} {rss:12.2f}")
            d, l = row["dsv2"], row["llama.cpp"]
            row["ratio"] = {"prefill": d["prefill_tps"] / l["prefill_tps"], "decode": d["decode_tps"] / l["decode_tps"],
                            "rss_over_file": d["peak_rss_gb"] / size}
            print(f"{'':18} {'ratio':10} {row['ratio']['prefill']:14.2f}x {row['ratio']['decode']:12.2f}x"
                  f"   (file {size:.2f} GB, {bpt / 1e9:.3f} GB read per decoded token; dsv2 RSS / file {row['ratio']['rss_over_file']:.2f})")
            table[key] = row
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "samples": samples, "table": table}, f, indent=1)


if __name__ == "__main__":
    main()
