#!/usr/bin/env python3
"""Encode/decode speed of dsv2::tokenizer against Hugging Face `tokenizers` on the same text, on one
core, in the same run, alternating (C++, Python, C++, Python, ...) so that load changes hit both.

    python3 tools/compare_tokenizers/compare.py [--bench build/release/bench/bench_tokenizer]
                                                [--rounds 3] [--model deepseek-v3]

Needs the pinned text environment of tools/fixtures/make_tokenizer_fixtures.py (tokenizers
0.23.3); the script re-executes itself there like that script does. Text: the long_english and
long_mixed ranges of tests/fixtures/tokenizers/corpus.txt (what bench_tokenizer uses). The ids of
both implementations are compared once before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "tokenizers")
sys.path.insert(0, os.path.join(REPO, "tools", "fixtures"))


def texts(model: str) -> dict[str, str]:
    raw = open(os.path.join(FIXTURES, "corpus.txt"), "rb").read()
    expected = json.load(open(os.path.join(FIXTURES, model, "expected.json"), encoding="utf-8"))
    return {c["name"].removeprefix("long_"): raw[c["corpus_range"][0]:c["corpus_range"][1]].decode()
            for c in expected["long_cases"]}


def hf_rate(tok, text: str, what: str, seconds: float) -> float:
    nbytes = len(text.encode())
    ids = tok.encode(text, add_special_tokens=False).ids
    # CPU time of this process (all threads), like Google Benchmark's default for bench_tokenizer:
    # on a loaded machine wall time would measure the other processes too.
    n, start, wall = 0, time.process_time(), time.perf_counter()
    while True:
        if what == "encode":
            tok.encode(text, add_special_tokens=False)
        else:
            tok.decode(ids)
        n += 1
        elapsed = time.process_time() - start
        if time.perf_counter() - wall >= seconds and elapsed > 0:
            return n * nbytes / elapsed / 1e6


def cpp_rates(bench: str, model: str, seconds: float) -> dict[str, float]:
    tag = {"deepseek-v3": "v3", "deepseek-v2": "v2"}[model]
    out = subprocess.run([bench, f"--benchmark_filter=(encode|decode)/{tag}_", f"--benchmark_min_time={seconds}",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    rates = {}
    for b in json.loads(out)["benchmarks"]:
        what, rest = b["name"].split("/", 1)
        rates[f"{what} {rest.split('_', 1)[1]}"] = b["bytes_per_second"] / 1e6
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(REPO, "build", "release", "bench", "bench_tokenizer"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    ap.add_argument("--model", default="deepseek-v3", choices=["deepseek-v3", "deepseek-v2"])
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = "1"      # before tokenizers is imported: one core
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from make_tokenizer_fixtures import bootstrap
    bootstrap()
    from tokenizers import Tokenizer
    import tokenizers
    tok = Tokenizer.from_file(os.path.join(FIXTURES, args.model, "tokenizer.json"))
    if not os.path.exists(args.bench):
        sys.exit(f"{args.bench} not found: cmake --build build/release --target bench_tokenizer")
    t = texts(args.model)
    print(f"model {args.model}, tokenizers {tokenizers.__version__}, texts: " +
          ", ".join(f"{k} {len(v.encode()) / 1e3:.0f} KB" for k, v in t.items()))
    results: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        cpp = cpp_rates(args.bench, args.model, args.seconds)
        for key, rate in cpp.items():
            results.setdefault(key, {}).setdefault("dsv2", []).append(rate)
        for key in cpp:
            what, which = key.split(" ")
            results[key].setdefault("tokenizers", []).append(hf_rate(tok, t[which], what, args.seconds))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\n{'':16} {'dsv2 MB/s':>12} {'tokenizers MB/s':>16}   (median of {args.rounds}, one core, CPU time)")
    for key, v in results.items():
        print(f"{key:16} {statistics.median(v['dsv2']):12.2f} {statistics.median(v['tokenizers']):16.2f}")


if __name__ == "__main__":
    main()
