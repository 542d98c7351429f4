#!/usr/bin/env python3
"""Decode tokens/s against context length: dsv2 (latent and expanded cache) and transformers (fp32,
bf16), one compare_pytorch.py run per context, then one plot and one Markdown table.

    python3 tools/compare_pytorch/plot_context.py [--contexts 512,1024,2048,4096] [--threads 1]
        [--dsv2 build/release/tools/cli/dsv2] [--out docs/img/decode_vs_context.png]

Each context N runs `compare_pytorch.py --context N --json ...` (every engine prefills N tokens once,
then decodes --decode-tokens tokens) and keeps the JSON next to the plot (same stem, .json), so the
figures behind the plot stay inspectable. Runs inside tools/fixtures/.venv like compare_pytorch.py
(matplotlib is installed there on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "fixtures"))

ENGINES = [("transformers", "float32", "transformers fp32"), ("transformers", "bfloat16", "transformers bf16"),
           ("dsv2", "latent", "dsv2, latent cache"), ("dsv2", "expanded", "dsv2, expanded cache")]


def label_of(row: dict) -> str | None:
    for engine, kind, label in ENGINES:
        if row.get("engine") == engine and (row.get("dtype") == kind or row.get("cache") == kind):
            return label
    return None


def main() -> int:
    from make_fixtures import bootstrap  # the pinned venv of the fixtures (torch, transformers)
    bootstrap(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contexts", default="512,1024,2048,4096")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--decode-tokens", type=int, default=8)
    ap.add_argument("--dsv2", default=os.path.join(REPO, "build", "release", "tools", "cli", "dsv2"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "img", "decode_vs_context.png"))
    ap.add_argument("--replot", action="store_true", help="only redraw from the JSON of an earlier run")
    args = ap.parse_args()
    contexts = [int(c) for c in args.contexts.split(",")]
    data_path = os.path.splitext(args.out)[0] + ".json"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)

    if args.replot:
        with open(data_path) as f:
            runs = json.load(f)
    else:
        runs = []
        for n in contexts:
            part = f"{data_path}.{n}.part"
            cmd = [sys.executable, os.path.join(HERE, "compare_pytorch.py"), "--dsv2", args.dsv2,
                   "--threads", str(args.threads), "--context", str(n), "--prompt-tokens", "16",
                   "--decode-tokens", str(args.decode_tokens), "--repeats", "1", "--no-bandwidth", "--json", part]
            print("+ " + " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
            with open(part) as f:
                doc = json.load(f)
            os.remove(part)
            runs.append(dict(context=n, command=" ".join(cmd[1:]), date=doc["date"], machine=doc["machine"],
                             results=[dict(label=label_of(r), decode_tok_s=r.get("decode_tps_median"),
                                           prefill_tok_s=r.get("prefill_tps_median"), error=r.get("error"))
                                      for r in doc["context_results"]]))
        with open(data_path, "w") as f:
            json.dump(runs, f, indent=1)

    series = {label: [] for _, _, label in ENGINES}
    for run in runs:
        for r in run["results"]:
            if r["label"] in series and r.get("decode_tok_s"):
                series[r["label"]].append((run["context"], r["decode_tok_s"]))

    print("\n| context | " + " | ".join(label for _, _, label in ENGINES) + " |")
    print("|---:|" + "---:|" * len(ENGINES))
    for run in runs:
        cells = []
        for _, _, label in ENGINES:
            v = next((r["decode_tok_s"] for r in run["results"] if r["label"] == label and r.get("decode_tok_s")), None)
            cells.append(f"{v:.2f}" if v else "—")
        print(f"| {run['context']:,} | " + " | ".join(cells) + " |")

    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        "matplotlib==3.11.2"], check=True)
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for _, _, label in ENGINES:
        pts = sorted(series[label])
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label,
                    linestyle="-" if label.startswith("dsv2") else "--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(contexts, [f"{c:,}" for c in contexts])
    ax.set_xlabel("context (tokens in the cache)")
    ax.set_ylabel("decode tokens/s")
    machine = runs[0]["machine"] if runs else {}
    ax.set_title(f"DeepSeek-V2-Lite shapes, 4 layers, bf16 checkpoint, {args.threads} thread(s)\n"
                 f"{machine.get('cpu', '')}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"\nwrote {args.out} and {data_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
