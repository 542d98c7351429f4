#!/usr/bin/env python3
"""Compare dsv2 with Hugging Face transformers (PyTorch, CPU, eager) on the same machine, the same
weights and the same thread count, in one run.

    python3 tools/compare_pytorch/compare_pytorch.py --make-checkpoint [DIR]   # only build the bench model
    python3 tools/compare_pytorch/compare_pytorch.py [--dsv2 PATH] [--threads N] [--json OUT] ...

The bench model has DeepSeek-V2-Lite shapes with 4 layers (1 dense + 3 MoE), random weights, BF16
safetensors written by transformers' save_pretrained (default ~/.cache/dsv2/bench-lite-4l, built on
first use and cached). Each engine runs in its own subprocess, alternating transformers and dsv2:

    transformers fp32, dsv2 (latent cache), transformers bf16, dsv2 (expanded cache)

and the script prints prefill tokens/s, decode tokens/s and peak RSS of each, the ratios dsv2 /
transformers, PASS/FAIL against the targets (decode >= 3x, prefill >= 1.5x), and a decode roofline
(weight bytes read per token x tokens/s / measured read bandwidth). See README.md next to this file.

The script runs inside tools/fixtures/.venv (the pinned torch/transformers of the parity fixtures);
it creates that virtualenv through make_fixtures.py's bootstrap when it is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(REPO, "tools", "fixtures")
DEFAULT_CKPT = os.path.join(os.path.expanduser("~"), ".cache", "dsv2", "bench-lite-4l")
DEFAULT_DSV2 = os.path.join(REPO, "build", "release", "tools", "cli", "dsv2")
STAMP = ".dsv2-bench.json"          # written last into the checkpoint dir: the build completed

TARGET_DECODE = 3.0                 # dsv2 decode tok/s >= 3x transformers
TARGET_PREFILL = 1.5                # dsv2 prefill tok/s >= 1.5x transformers

# DeepSeek-V2-Lite (deepseek-ai/DeepSeek-V2-Lite config.json) with 4 layers instead of 27.
BENCH_CONFIG = dict(
    vocab_size=102400,
    hidden_size=2048,
    intermediate_size=10944,
    moe_intermediate_size=1408,
    num_hidden_layers=4,
    num_attention_heads=16,
    num_key_value_heads=16,
    q_lora_rank=None,
    kv_lora_rank=512,
    qk_nope_head_dim=128,
    qk_rope_head_dim=64,
    v_head_dim=128,
    n_routed_experts=64,
    n_shared_experts=2,
    num_experts_per_tok=6,
    topk_method="greedy",
    n_group=1,
    topk_group=1,
    routed_scaling_factor=1.0,
    norm_topk_prob=False,
    first_k_dense_replace=1,
    moe_layer_freq=1,
    hidden_act="silu",
    max_position_embeddings=163840,
    rms_norm_eps=1e-6,
    initializer_range=0.02,
    attention_bias=False,
    tie_word_embeddings=False,
    bos_token_id=100000,
    eos_token_id=100001,
    rope_parameters=dict(
        rope_type="yarn",
        rope_theta=10000.0,
        factor=40.0,
        original_max_position_embeddings=4096,
        beta_fast=32.0,
        beta_slow=1.0,
        mscale=0.707,
        mscale_all_dim=0.707,
    ),
)
INIT_SEED = 20240607
SHARD_SIZE = "2GB"                  # several shards with an index, like the real checkpoint
FIRST_ID, LAST_ID = 3, 100000       # prompt ids are drawn from [3, 100000): no bos/eos (100000/100001)


# --------------------------------------------------------------------------- virtualenv

def ensure_venv() -> None:
    """Re-execute this script inside tools/fixtures/.venv, creating it (pinned requirements) if needed.

    make_fixtures.bootstrap(script) builds or updates the venv and re-executes this script in it."""
    sys.path.insert(0, FIXTURES)
    import make_fixtures  # light: its heavy imports (torch, transformers) happen later, on demand
    if make_fixtures._inside_venv():
        return
    make_fixtures.bootstrap(os.path.abspath(__file__))   # does not return unless already inside the venv


def venv_python() -> str:
    return sys.executable


# --------------------------------------------------------------------------- child processes

class ChildResult:
    def __init__(self, rc, stdout, stderr, wall_s, maxrss_bytes, cpu_s, peaks):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.wall_s, self.maxrss_bytes, self.cpu_s = wall_s, maxrss_bytes, cpu_s
        self.peak_anon_bytes = peaks.get("RssAnon", 0)      # polled: anonymous memory (heap)
        self.peak_file_bytes = peaks.get("RssFile", 0)      # polled: mapped file pages (e.g. mmapped weights)


def _poll_status(pid: int, peaks: dict, stop: threading.Event, period: float = 0.05) -> None:
    """Largest RssAnon / RssFile seen in /proc/<pid>/status (VmHWM does not split them)."""
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in ("RssAnon", "RssFile"):
                        peaks[key] = max(peaks.get(key, 0), int(rest.split()[0]) * 1024)
        except (OSError, ValueError, IndexError):
            pass
        stop.wait(period)


def run_child(cmd: list[str], env: dict | None = None, echo_stderr: bool = True) -> ChildResult:
    """Run cmd to completion. Peak RSS and CPU time come from wait4() on exactly this child
    (ru_maxrss of that process, in KiB on Linux), so they are per engine, not per script; the
    anonymous/file split of RSS is polled from /proc/<pid>/status every 50 ms."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=None if echo_stderr else err, env=env)
        peaks, stop = {}, threading.Event()
        poller = threading.Thread(target=_poll_status, args=(p.pid, peaks, stop), daemon=True)
        poller.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        finally:
            stop.set()
            poller.join()
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildResult(p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                           wall, ru.ru_maxrss * 1024, ru.ru_utime + ru.ru_stime, peaks)


def mem_available() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float("nan")


def thread_env(n: int) -> dict:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(n)
    return env


def worker_cmd(kind: str, **kw) -> list[str]:
    return [venv_python(), os.path.abspath(__file__), "--worker", kind, "--worker-args", json.dumps(kw)]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- checkpoint

def read_safetensors_header(path: str) -> dict:
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


def weight_files(ckpt: str) -> list[str]:
    index = os.path.join(ckpt, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return ["model.safetensors"]


def checkpoint_tensors(ckpt: str) -> dict[str, tuple[str, list[int]]]:
    """name -> (dtype, shape) from the safetensors headers (no tensor data is read)."""
    out = {}
    for fn in weight_files(ckpt):
        for name, info in read_safetensors_header(os.path.join(ckpt, fn)).items():
            out[name] = (info["dtype"], info["shape"])
    return out


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def config_mismatches(ckpt: str) -> list[str]:
    """Keys of BENCH_CONFIG whose value in ckpt/config.json differs (empty: same config)."""
    with open(os.path.join(ckpt, "config.json")) as f:
        saved = json.load(f)
    bad = []
    for k, want in BENCH_CONFIG.items():
        got = saved.get(k, "<missing>")
        if isinstance(want, dict):
            got = got if isinstance(got, dict) else {}
            bad += [f"{k}.{kk}: {got.get(kk, '<missing>')!r} != {vv!r}" for kk, vv in want.items()
                    if not _same(got.get(kk), vv)]
        elif not _same(got, want):
            bad.append(f"{k}: {got!r} != {want!r}")
    return bad


def checkpoint_ready(ckpt: str) -> bool:
    if not os.path.exists(os.path.join(ckpt, "config.json")):
        return False
    bad = config_mismatches(ckpt)
    if bad:
        log(f"{ckpt}/config.json differs from the bench config: " + "; ".join(bad[:5]))
        return False
    if not os.path.exists(os.path.join(ckpt, STAMP)):
        log(f"{ckpt}: no {STAMP} (an interrupted build?)")
        return False
    return all(os.path.exists(os.path.join(ckpt, fn)) for fn in weight_files(ckpt))


def make_checkpoint(ckpt: str) -> None:
    """Build the bench checkpoint into ckpt unless it is already there with the same config."""
    ckpt = os.path.abspath(os.path.expanduser(ckpt))
    if checkpoint_ready(ckpt):
        log(f"checkpoint {ckpt}: present, same config (cached)")
        return
    if os.path.isdir(ckpt) and os.listdir(ckpt) and not os.path.exists(os.path.join(ckpt, STAMP)):
        sys.exit(f"{ckpt} is not empty and was not written by this tool (no {STAMP}): refusing to replace it;"
                 " remove it or pass another directory")
    parent = os.path.dirname(ckpt)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(ckpt) + ".tmp-", dir=parent)
    os.chmod(tmp, 0o755)
    log(f"building the bench checkpoint in {tmp} (random init, BF16, about 4.5 GB) ...")
    try:
        r = run_child(worker_cmd("make-checkpoint", dir=tmp))
        if r.rc != 0:
            sys.exit(f"checkpoint generator failed (exit {r.rc})")
        if os.path.exists(ckpt):
            shutil.rmtree(ckpt)
        os.rename(tmp, ckpt)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    size = sum(os.path.getsize(os.path.join(ckpt, fn)) for fn in weight_files(ckpt))
    log(f"checkpoint {ckpt}: {size / 1e9:.2f} GB of weights; generator peak RSS {r.maxrss_bytes / 1e9:.2f} GB,"
        f" {r.wall_s:.0f} s")


def worker_make_checkpoint(a: dict) -> None:
    import torch
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

    out = a["dir"]
    cfg = DeepseekV2Config(**json.loads(json.dumps(BENCH_CONFIG)))
    torch.manual_seed(INIT_SEED)
    # Parameters are created (and initialised: normal(0, initializer_range), norms 1) directly in
    # bf16, so the generator never holds an fp32 copy of the 2.3 B parameters.
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = DeepseekV2ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    model = model.to(torch.bfloat16).eval()   # the router (gate.weight) is created in fp32
    n_params = sum(p.numel() for p in model.parameters())
    log(f"  {n_params / 1e9:.3f} B parameters; saving (max_shard_size {SHARD_SIZE}) ...")
    model.save_pretrained(out, max_shard_size=SHARD_SIZE)
    del model
    tensors = checkpoint_tensors(out)
    dtypes = {d for d, _ in tensors.values()}
    assert dtypes == {"BF16"}, f"expected only BF16 tensors, got {dtypes}"
    assert any(".mlp.experts.0.gate_proj.weight" in k for k in tensors), "expected per-expert tensor names"
    assert not any(k.endswith("mlp.experts.gate_up_proj") for k in tensors), "unexpected fused expert tensors"
    bad = config_mismatches(out)
    assert not bad, bad
    with open(os.path.join(out, STAMP), "w") as f:
        json.dump(dict(generator="tools/compare_pytorch/compare_pytorch.py", seed=INIT_SEED,
                       torch=torch.__version__, parameters=n_params, config=BENCH_CONFIG), f, indent=1)


# --------------------------------------------------------------------------- roofline

DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "BOOL": 1}
_EXPERT = re.compile(r"model\.layers\.(\d+)\.mlp\.experts\.(?:\d+\.|gate_up_proj|down_proj)")


def decode_bytes_per_token(ckpt: str) -> dict:
    """Weight bytes one decoded token reads: one embedding row, every non-routed-expert tensor
    (attention, norms, dense MLP, router, shared experts, final norm, lm_head) and top-k of the
    n routed experts of each MoE layer. Computed from the safetensors headers, in the checkpoint's
    dtype and, for comparison, in fp32."""
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    k, E = cfg["num_experts_per_tok"], cfg["n_routed_experts"]
    total = {"ckpt": 0.0, "fp32": 0.0}
    parts = {"embedding_row": 0.0, "routed_experts_topk": 0.0, "other": 0.0}
    file_bytes = 0
    embed = None
    for name, (dtype, shape) in checkpoint_tensors(ckpt).items():
        numel = math.prod(shape)
        b = numel * DTYPE_BYTES[dtype]
        file_bytes += b
        if name == "model.embed_tokens.weight":
            embed = (b, numel)
            share, part = 1.0 / shape[0], "embedding_row"
        elif _EXPERT.match(name):
            share, part = k / E, "routed_experts_topk"
        else:
            share, part = 1.0, "other"
        total["ckpt"] += b * share
        total["fp32"] += numel * 4 * share
        parts[part] += b * share
    if cfg.get("tie_word_embeddings") and embed:      # lm_head is the embedding: read in full
        total["ckpt"] += embed[0]
        total["fp32"] += embed[1] * 4
        parts["other"] += embed[0]
    return dict(bytes_per_token=total["ckpt"], bytes_per_token_fp32=total["fp32"], parts=parts,
                checkpoint_weight_bytes=file_bytes)


def worker_bandwidth(a: dict) -> dict:
    import numpy as np
    import torch

    n = int(a["gb"] * 1e9) // 4
    t = torch.ones(n, dtype=torch.float32)      # touched: every page is resident
    nbytes = n * 4

    def best_of(fn, reps):
        best = math.inf
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return nbytes / best / 1e9

    res = dict(bytes=nbytes, threads=a["threads"])
    for threads in sorted({a["threads"], 1}, reverse=True):
        torch.set_num_threads(threads)
        t.sum().item()                           # warm-up
        res[f"torch_sum_{threads}thread_GBps"] = best_of(lambda: t.sum().item(), 5)
    arr = t.numpy()
    res["numpy_reduce_1thread_GBps"] = best_of(lambda: np.add.reduce(arr), 3)
    return res


# --------------------------------------------------------------------------- transformers

def worker_hf(a: dict) -> dict:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(a["threads"])
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[a["dtype"]]
    t0 = time.perf_counter()
    kw = dict(dtype=dtype, attn_implementation="eager")
    if a.get("experts"):
        kw["experts_implementation"] = a["experts"]
    model = AutoModelForCausalLM.from_pretrained(a["checkpoint"], **kw).eval()
    load_s = time.perf_counter() - t0
    experts_impl = getattr(model.config, "_experts_implementation", None)
    log(f"  transformers {transformers.__version__} / torch {torch.__version__}: {a['dtype']}, "
        f"attention {model.config._attn_implementation}, experts {experts_impl}, "
        f"{torch.get_num_threads()} threads, loaded in {load_s:.1f} s")

    def prefill(ids):
        t = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        tok = out.logits[:, -1].argmax(-1)
        first = int(tok)
        return out.cache, tok, first, time.perf_counter() - t

    def decode(cache, tok, n):
        toks = []
        t = time.perf_counter()
        for _ in range(n):
            out = model(input_ids=tok[:, None], cache=cache, use_cache=True)
            tok = out.logits[:, -1].argmax(-1)
            toks.append(int(tok))
        return toks, time.perf_counter() - t

    res = dict(engine="transformers", dtype=a["dtype"], experts_implementation=experts_impl, load_s=load_s,
               threads=torch.get_num_threads(), torch=torch.__version__, transformers=transformers.__version__)
    n_dec = a["decode_tokens"]
    with torch.inference_mode():
        if a.get("context_ids"):
            # one long prefill, then decode at that context; a short warm-up first
            cache, tok, _, _ = prefill(torch.tensor([a["prompt_ids"][:64]]))
            decode(cache, tok, 2)
            del cache
            ids = torch.tensor([a["context_ids"]])
            cache, tok, first, dt_p = prefill(ids)
            toks, dt_d = decode(cache, tok, n_dec)
            res.update(prompt_tokens=ids.shape[1], decode_tokens=n_dec, prefill_tps=[ids.shape[1] / dt_p],
                       decode_tps=[n_dec / dt_d], ids=[first] + toks)
            return res
        ids = torch.tensor([a["prompt_ids"]])
        cache, tok, _, dt_cold = prefill(ids)               # warm-up (dsv2's CLI runs have none)
        decode(cache, tok, min(2, n_dec))
        del cache
        res["prefill_cold_tps"] = ids.shape[1] / dt_cold
        log(f"    warm-up prefill {res['prefill_cold_tps']:.1f} tok/s")
        p_tps, d_tps, seqs = [], [], []
        for r in range(a["repeats"]):
            cache, tok, first, dt_p = prefill(ids)
            toks, dt_d = decode(cache, tok, n_dec)
            del cache
            p_tps.append(ids.shape[1] / dt_p)
            d_tps.append(n_dec / dt_d)
            seqs.append([first] + toks)
            log(f"    repeat {r + 1}: prefill {p_tps[-1]:.1f} tok/s, decode {d_tps[-1]:.2f} tok/s")
    if any(s != seqs[0] for s in seqs):
        log("  WARNING: transformers produced different greedy ids across repeats")
    res.update(prompt_tokens=ids.shape[1], decode_tokens=n_dec, prefill_tps=p_tps, decode_tps=d_tps, ids=seqs[0])
    return res


def run_hf(args, dtype: str, prompt: list[int], context: list[int] | None = None) -> dict:
    label = f"transformers {dtype}" + (f" @ context {len(context)}" if context else "")
    log(f"[{label}] (MemAvailable {mem_available() / 1e9:.1f} GB)")
    with tempfile.NamedTemporaryFile("r", suffix=".json") as rf:
        cmd = worker_cmd("hf", checkpoint=args.checkpoint, dtype=dtype, threads=args.threads,
                         experts=args.hf_experts, prompt_ids=prompt, context_ids=context,
                         decode_tokens=args.decode_tokens, repeats=args.repeats, result_file=rf.name)
        r = run_child(cmd, env=thread_env(args.threads))
        if r.rc != 0:
            log(r.stdout)
            return dict(engine="transformers", dtype=dtype, error=f"exit {r.rc}")
        res = json.load(open(rf.name))
    res.update(peak_rss_bytes=r.maxrss_bytes, peak_anon_bytes=r.peak_anon_bytes, peak_file_bytes=r.peak_file_bytes,
               wall_s=r.wall_s, cpu_s=r.cpu_s)
    return res


# --------------------------------------------------------------------------- dsv2

SPEED_LINE = re.compile(r"\[prefill (\d+) tokens, ([\d.]+) tok/s \| decode (\d+) tokens, ([\d.]+) tok/s"
                        r" \| (\w+) cache ([\d.]+) KiB\]")


def parse_dsv2(stdout: str) -> dict:
    lines = stdout.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        m = SPEED_LINE.search(lines[i])
        if m:
            ids_line = lines[i - 1] if i > 0 else ""
            ids = [int(x) for x in ids_line.split()] if re.fullmatch(r"[\d ]+", ids_line.strip() or "x") else []
            return dict(prompt_tokens=int(m[1]), prefill_tps=float(m[2]), decode_tokens=int(m[3]),
                        decode_tps=float(m[4]), cache=m[5], cache_kib=float(m[6]), ids=ids)
    raise ValueError("no '[prefill ... | decode ... ]' line in dsv2's output:\n" + stdout[-2000:])


def run_dsv2(args, cache: str, prompt: list[int], repeats: int, label_extra: str = "") -> dict:
    log(f"[dsv2 {cache} cache{label_extra}] (MemAvailable {mem_available() / 1e9:.1f} GB)")
    cmd = [args.dsv2, "generate", args.checkpoint, "--ids", ",".join(map(str, prompt)),
           "--max-new-tokens", str(args.decode_tokens + 1), "--temperature", "0", "--print-ids",
           "--cache", cache]
    runs = []
    for rep in range(repeats):
        r = run_child(cmd, env=thread_env(args.threads), echo_stderr=False)
        if r.rc != 0:
            log(f"  dsv2 failed (exit {r.rc}):\n{r.stderr[-3000:]}\n{r.stdout[-2000:]}")
            return dict(engine="dsv2", dtype="bf16 ckpt", cache=cache, error=f"exit {r.rc}")
        p = parse_dsv2(r.stdout)
        if p["decode_tokens"] != args.decode_tokens:
            log(f"  WARNING: dsv2 decoded {p['decode_tokens']} tokens, not {args.decode_tokens} (eos?)")
        p.update(wall_s=r.wall_s, cpu_s=r.cpu_s, peak_rss_bytes=r.maxrss_bytes, peak_anon_bytes=r.peak_anon_bytes,
                 peak_file_bytes=r.peak_file_bytes,
                 load_s=r.wall_s - p["prompt_tokens"] / max(p["prefill_tps"], 1e-9)
                 - p["decode_tokens"] / max(p["decode_tps"], 1e-9))
        log(f"    run {rep + 1}: prefill {p['prefill_tps']:.1f} tok/s, decode {p['decode_tps']:.2f} tok/s,"
            f" peak RSS {r.maxrss_bytes / 1e9:.2f} GB, {r.wall_s:.1f} s")
        runs.append(p)
    if any(p["ids"] != runs[0]["ids"] for p in runs):
        log("  WARNING: dsv2 produced different greedy ids across runs")
    return dict(engine="dsv2", dtype="bf16 ckpt", cache=cache, prompt_tokens=runs[0]["prompt_tokens"],
                decode_tokens=runs[0]["decode_tokens"], prefill_tps=[p["prefill_tps"] for p in runs],
                decode_tps=[p["decode_tps"] for p in runs], ids=runs[0]["ids"],
                peak_rss_bytes=max(p["peak_rss_bytes"] for p in runs),
                peak_anon_bytes=max(p["peak_anon_bytes"] for p in runs),
                peak_file_bytes=max(p["peak_file_bytes"] for p in runs),
                load_s=statistics.median(p["load_s"] for p in runs),
                wall_s=statistics.median(p["wall_s"] for p in runs),
                cpu_s=statistics.median(p["cpu_s"] for p in runs), cache_kib=runs[0]["cache_kib"])


# --------------------------------------------------------------------------- report

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def row_name(r: dict) -> str:
    if r["engine"] == "dsv2":
        return f"dsv2 ({r['cache']} cache)"
    return f"transformers {r['dtype']}"


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def summarise(rows: list[dict]) -> None:
    for r in rows:
        if "error" in r:
            continue
        r["prefill_tps_median"] = med(r["prefill_tps"])
        r["decode_tps_median"] = med(r["decode_tps"])
        r["peak_rss_GB"] = r["peak_rss_bytes"] / 1e9
        r["avg_cores"] = r["cpu_s"] / r["wall_s"] if r.get("wall_s") else float("nan")


def print_table(title: str, rows: list[dict], ref_ids: list[int] | None) -> None:
    print(f"\n{title}")
    hdr = (f"{'engine':<24} {'dtype':<6} {'prefill tok/s':>13} {'decode tok/s':>12} {'peak RSS GB':>11}"
           f" {'(anon+file)':>11} {'load s':>7} {'cores':>5}  greedy ids = transformers fp32")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if "error" in r:
            print(f"{row_name(r):<24} failed: {r['error']}")
            continue
        weights = {"float32": "fp32", "bfloat16": "bf16"}.get(r["dtype"], "dsv2's")
        ids = ""
        if ref_ids is not None and not (r["engine"] == "transformers" and r["dtype"] == "float32"):
            n = common_prefix(r["ids"], ref_ids)
            ids = f"{n}/{min(len(r['ids']), len(ref_ids))} equal"
        split = f"{r['peak_anon_bytes'] / 1e9:.1f}+{r['peak_file_bytes'] / 1e9:.1f}"
        print(f"{row_name(r):<24} {weights:<6} {r['prefill_tps_median']:>13.1f} {r['decode_tps_median']:>12.2f}"
              f" {r['peak_rss_GB']:>11.2f} {split:>11} {r['load_s']:>7.1f} {r['avg_cores']:>5.2f}  {ids}")


def ratios_and_targets(rows: list[dict]) -> list[dict]:
    hf = [r for r in rows if r["engine"] == "transformers" and "error" not in r]
    ds = [r for r in rows if r["engine"] == "dsv2" and "error" not in r]
    out = []
    if not hf or not ds:
        return out
    print("\nratios dsv2 / transformers (speed: higher is better; memory: lower is better)")
    print(f"{'dsv2':<24} {'vs transformers':<16} {'prefill':>8} {'decode':>8} {'peak RSS':>9}   targets"
          f" (prefill >= {TARGET_PREFILL}x, decode >= {TARGET_DECODE}x)")
    for d in ds:
        for h in hf:
            pr = d["prefill_tps_median"] / h["prefill_tps_median"]
            dr = d["decode_tps_median"] / h["decode_tps_median"]
            mr = d["peak_rss_bytes"] / h["peak_rss_bytes"]
            p_ok, d_ok = pr >= TARGET_PREFILL, dr >= TARGET_DECODE
            print(f"{row_name(d):<24} {h['dtype']:<16} {pr:>7.2f}x {dr:>7.2f}x {mr:>8.2f}x   "
                  f"prefill {'PASS' if p_ok else 'FAIL'}, decode {'PASS' if d_ok else 'FAIL'}")
            out.append(dict(dsv2=row_name(d), transformers=h["dtype"], prefill_ratio=pr, decode_ratio=dr,
                            peak_rss_ratio=mr, prefill_target=TARGET_PREFILL, decode_target=TARGET_DECODE,
                            prefill_pass=p_ok, decode_pass=d_ok))
    return out


def print_roofline(rows: list[dict], bpt: dict, bw: dict | None) -> dict:
    print(f"\nroofline: weight bytes read per decoded token = {bpt['bytes_per_token'] / 1e9:.3f} GB in the checkpoint"
          f" dtype ({bpt['bytes_per_token_fp32'] / 1e9:.3f} GB if held in fp32)"
          f" [embedding row {bpt['parts']['embedding_row'] / 1e3:.1f} kB, top-k routed experts"
          f" {bpt['parts']['routed_experts_topk'] / 1e9:.3f} GB, everything else {bpt['parts']['other'] / 1e9:.3f} GB]")
    if not bw:
        return {}
    B = bw["best_GBps"] * 1e9
    t = bw["threads"]
    print(f"read bandwidth (torch fp32 t.sum() over {bw['bytes'] / 1e9:.1f} GB, best of 5, before and after the"
          f" engines): {bw[f'torch_sum_{t}thread_GBps']:.1f} GB/s on {t} thread{'s' if t != 1 else ''}"
          + (f", {bw['torch_sum_1thread_GBps']:.1f} GB/s on 1" if t != 1 else "")
          + f"; numpy np.add.reduce (single-threaded) {bw['numpy_reduce_1thread_GBps']:.1f} GB/s;"
          f" using {bw['best_GBps']:.1f} GB/s")
    print(f"decode roofline at that bandwidth: {B / bpt['bytes_per_token']:.1f} tok/s for checkpoint-dtype weights,"
          f" {B / bpt['bytes_per_token_fp32']:.1f} tok/s for fp32 weights")
    out = {}
    for r in rows:
        if "error" in r:
            continue
        f = r["decode_tps_median"] * bpt["bytes_per_token"] / B
        f32 = r["decode_tps_median"] * bpt["bytes_per_token_fp32"] / B
        print(f"  {row_name(r):<24} decode reaches {100 * f:5.1f}% of the roofline"
              f" (counting fp32 weight bytes: {100 * f32:5.1f}%)")
        out[row_name(r)] = dict(fraction=f, fraction_fp32_bytes=f32)
    return out


def git_state() -> dict:
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip() != ""
        return dict(head=head, dirty=dirty)
    except OSError:
        return {}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# --------------------------------------------------------------------------- main

def measure(args) -> int:
    import numpy as np

    args.checkpoint = os.path.abspath(os.path.expanduser(args.checkpoint))
    args.dsv2 = os.path.abspath(args.dsv2)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"hf-fp32", "hf-bf16", "dsv2-latent", "dsv2-expanded"}
    if unknown:
        sys.exit(f"--engines: unknown {sorted(unknown)}")
    if any(e.startswith("dsv2") for e in engines) and not os.access(args.dsv2, os.X_OK):
        sys.exit(f"dsv2 CLI not found at {args.dsv2}: build it (cmake --preset release && "
                 f"cmake --build build/release --target dsv2_cli) or pass --dsv2 PATH")
    make_checkpoint(args.checkpoint)
    version = subprocess.run([args.dsv2, "--version"], capture_output=True, text=True).stdout.strip() \
        if os.access(args.dsv2, os.X_OK) else None

    rng = np.random.default_rng(args.seed)
    prompt = rng.integers(FIRST_ID, LAST_ID, size=args.prompt_tokens).tolist()
    context = rng.integers(FIRST_ID, LAST_ID, size=args.context).tolist() if args.context else None
    bpt = decode_bytes_per_token(args.checkpoint)

    load_start = os.getloadavg()
    if load_start[0] > 0.5:
        log(f"note: 1-min load average {load_start[0]:.1f} before starting: other jobs are running, absolute"
            " figures will be low and noisy (compare the ratios)")
    bw_runs = []

    def bandwidth():
        if args.no_bandwidth:
            return
        log(f"[read bandwidth, {args.bandwidth_gb} GB array]")
        with tempfile.NamedTemporaryFile("r", suffix=".json") as rf:
            r = run_child(worker_cmd("bandwidth", gb=args.bandwidth_gb, threads=args.threads, result_file=rf.name),
                          env=thread_env(args.threads))
            if r.rc == 0:
                bw_runs.append(json.load(open(rf.name)))
                log("    " + ", ".join(f"{k} {v:.1f}" for k, v in bw_runs[-1].items() if k.endswith("GBps")))

    bandwidth()

    # alternate the engines: a slow-down from another job on the machine hits both
    order = [e for e in ("hf-fp32", "dsv2-latent", "hf-bf16", "dsv2-expanded") if e in engines]
    rows = []
    for e in order:
        if e.startswith("hf-"):
            rows.append(run_hf(args, {"hf-fp32": "float32", "hf-bf16": "bfloat16"}[e], prompt))
        else:
            rows.append(run_dsv2(args, e.split("-")[1], prompt, args.repeats))
    ctx_rows = []
    if context:
        for e in order:
            if e.startswith("hf-"):
                ctx_rows.append(run_hf(args, {"hf-fp32": "float32", "hf-bf16": "bfloat16"}[e], prompt, context))
            else:
                ctx_rows.append(run_dsv2(args, e.split("-")[1], context, 1, f" @ context {len(context)}"))
    bandwidth()   # again at the end: the best of both is the ceiling (the machine may be shared)
    load_end = os.getloadavg()
    bw = None
    if bw_runs:
        keys = [k for k in bw_runs[0] if k.endswith("GBps")]
        bw = {k: max(b[k] for b in bw_runs) for k in keys}
        bw.update(bytes=bw_runs[0]["bytes"], threads=args.threads, runs=bw_runs,
                  best_GBps=max(bw[k] for k in keys if k.startswith("torch")))
    summarise(rows)
    summarise(ctx_rows)

    def ref(rs):
        return next((r["ids"] for r in rs if r["engine"] == "transformers" and r["dtype"] == "float32"
                     and "error" not in r), None)

    ref_ids = ref(rows)
    print(f"\ndsv2 vs transformers on {args.checkpoint} ({bpt['checkpoint_weight_bytes'] / 1e9:.2f} GB BF16)"
          f" | {cpu_model()}, {os.cpu_count()} CPUs, {args.threads} thread{'s' if args.threads != 1 else ''} | prompt {args.prompt_tokens},"
          f" decode {args.decode_tokens} tokens, median of {args.repeats} | 1-min load average"
          f" {load_start[0]:.1f} at start, {load_end[0]:.1f} at end")
    print_table("short context", rows, ref_ids)
    if ctx_rows:
        print_table(f"decode at context {args.context} (prefill {args.context} tokens once, then decode"
                    f" {args.decode_tokens})", ctx_rows, ref(ctx_rows))
    print("peak RSS: wait4() ru_maxrss of the engine's process; (anon+file): largest RssAnon and RssFile"
          " polled from /proc every 50 ms (file = mapped checkpoint pages).\ncores: CPU time / wall time of the"
          " whole process, load included. load s for dsv2: wall time minus prefill and decode.")

    warnings = []
    for rs, name in ((rows, "short"), (ctx_rows, "context")):
        rid = ref(rs)
        for r in rs:
            if r["engine"] == "dsv2" and "error" not in r and rid is not None:
                n = common_prefix(r["ids"], rid)
                if n < min(args.check_tokens, len(rid), len(r["ids"])):
                    warnings.append(f"WARNING ({name}): {row_name(r)} greedy ids differ from transformers fp32"
                                    f" at token {n}: dsv2 {r['ids'][:args.check_tokens]} vs"
                                    f" transformers {rid[:args.check_tokens]}")
    ratios = ratios_and_targets(rows)
    roof = print_roofline(rows, bpt, bw)
    for w in warnings:
        print(w)

    if args.json:
        doc = dict(tool="tools/compare_pytorch/compare_pytorch.py", date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   machine=dict(cpu=cpu_model(), cpus=os.cpu_count(), python=platform.python_version(),
                                load_average_start=load_start, load_average_end=load_end),
                   repo_git=git_state(),
                   dsv2=dict(path=args.dsv2, version=version,
                             built=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(args.dsv2)))
                             if os.path.exists(args.dsv2) else None),
                   settings=dict(threads=args.threads, prompt_tokens=args.prompt_tokens,
                                 decode_tokens=args.decode_tokens, repeats=args.repeats, context=args.context,
                                 seed=args.seed, hf_experts=args.hf_experts),
                   checkpoint=dict(dir=args.checkpoint, config=BENCH_CONFIG, **bpt),
                   bandwidth=bw, results=rows, context_results=ctx_rows, ratios=ratios, roofline=roof,
                   warnings=warnings)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-checkpoint", nargs="?", const=DEFAULT_CKPT, metavar="DIR",
                    help=f"only build (or find cached) the bench checkpoint in DIR (default {DEFAULT_CKPT}) and exit")
    ap.add_argument("--checkpoint", default=DEFAULT_CKPT, metavar="DIR",
                    help="bench checkpoint to measure on; built there when missing (default %(default)s)")
    ap.add_argument("--dsv2", default=DEFAULT_DSV2, metavar="PATH", help="dsv2 CLI (default %(default)s)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch.set_num_threads and OMP_NUM_THREADS for both engines (default %(default)s)")
    ap.add_argument("--prompt-tokens", type=int, default=512, help="prefill length (default %(default)s)")
    ap.add_argument("--decode-tokens", type=int, default=32,
                    help="decode steps timed after the prefill (dsv2 --max-new-tokens is this + 1; default %(default)s)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="measurements per engine, the median is reported (transformers: after one warm-up in"
                         " the same process; dsv2: separate CLI runs) (default %(default)s)")
    ap.add_argument("--context", type=int, default=0, metavar="N",
                    help="also decode after an N-token prefill (e.g. 4096; slow), one run per engine")
    ap.add_argument("--engines", default="hf-fp32,dsv2-latent,hf-bf16,dsv2-expanded",
                    help="comma-separated subset of %(default)s")
    ap.add_argument("--hf-experts", default=None, metavar="IMPL",
                    help="transformers experts_implementation (eager, grouped_mm, batched_mm);"
                         " default: transformers' own choice, which is reported")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random prompt (default %(default)s)")
    ap.add_argument("--check-tokens", type=int, default=8,
                    help="warn when dsv2's greedy ids differ from transformers fp32 within this many tokens")
    ap.add_argument("--bandwidth-gb", type=float, default=2.0, help="array size of the bandwidth test")
    ap.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth measurement")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-args", help=argparse.SUPPRESS)
    args = ap.parse_args()

    ensure_venv()

    if args.worker:
        a = json.loads(args.worker_args)
        if args.worker == "make-checkpoint":
            worker_make_checkpoint(a)
            return 0
        res = {"hf": worker_hf, "bandwidth": worker_bandwidth}[args.worker](a)
        with open(a["result_file"], "w") as f:
            json.dump(res, f)
        return 0
    for name in ("threads", "prompt_tokens", "decode_tokens", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.make_checkpoint:
        make_checkpoint(args.make_checkpoint)
        return 0
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
