#!/usr/bin/env python3
"""Train the dsv2 demo model: a small byte-level DeepSeek-V2 on Tiny Shakespeare, with
Hugging Face `transformers` on the CPU, and write it to examples/models/shakespeare/.

    python3 tools/demo/train_demo.py                 # train (default 25 min budget) and save
    python3 tools/demo/train_demo.py --minutes 10    # shorter run
    python3 tools/demo/train_demo.py --check         # reload the committed checkpoint and verify
                                                     # heldout.json and generate.json
    python3 tools/demo/train_demo.py --finalize      # recompute heldout.json / generate.json from
                                                     # the saved checkpoint (appends to the log)
    python3 tools/demo/train_demo.py --bench         # tokens/s of a few training steps, no output

The script runs in the pinned environment of tools/fixtures/ (tools/fixtures/.venv, built from
tools/fixtures/requirements.txt): it creates the venv the same way if it is missing and re-executes
itself there. Nothing else is installed. See tools/demo/README.md.

Vocabulary: byte b -> id b (0..255), bos = 256, eos = 257, pad = 258 (vocab_size 259).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES_TOOLS = os.path.join(REPO, "tools", "fixtures")
SHARED_DATA = os.path.abspath(os.path.join(REPO, "..", "shared", "data", "tinyshakespeare.txt"))
DATA = os.path.join(HERE, "data", "tinyshakespeare.txt")
OUT_DIR = os.path.join(REPO, "examples", "models", "shakespeare")

BOS, EOS, PAD = 256, 257, 258
VOCAB = 259
HARD_LIMIT_S = 30 * 60          # the whole run (training + final evaluation) must stay under this
HELDOUT_SLICE_LEN = 511         # bytes; with bos the slice is 512 tokens = the training length
PROMPTS = ["ROMEO:\n", "First Citizen:\n", "KING HENRY:\nMy lords,"]
MAX_NEW_TOKENS = 64
CHECK_LOSS_RTOL = 1e-6          # --check: recomputed held-out loss vs heldout.json

# --------------------------------------------------------------------------- model config

YARN = {
    "rope_type": "yarn",
    "rope_theta": 10000.0,
    "factor": 4.0,
    "original_max_position_embeddings": 256,
    "beta_fast": 32.0,
    "beta_slow": 1.0,
    "mscale": 0.707,
    "mscale_all_dim": 0.707,
}

MODEL = dict(
    vocab_size=VOCAB,
    hidden_size=256,
    intermediate_size=512,          # dense MLP of layer 0
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=4,
    q_lora_rank=128,
    kv_lora_rank=64,
    qk_nope_head_dim=32,
    qk_rope_head_dim=16,
    v_head_dim=32,
    first_k_dense_replace=1,
    n_routed_experts=8,
    n_shared_experts=1,
    moe_intermediate_size=128,
    num_experts_per_tok=2,
    topk_method="group_limited_greedy",
    n_group=4,
    topk_group=2,
    routed_scaling_factor=1.0,
    norm_topk_prob=False,
    hidden_act="silu",
    max_position_embeddings=1024,   # factor * original_max_position_embeddings
    rope_parameters=YARN,
    rms_norm_eps=1e-6,
    initializer_range=0.02,
    attention_bias=False,
    mlp_bias=False,
    attention_dropout=0.0,
    tie_word_embeddings=False,
    bos_token_id=BOS,
    eos_token_id=EOS,
    pad_token_id=PAD,
    use_cache=True,
)

TRAIN = dict(
    seq_len=512,            # tokens per training row: bos + 511 bytes (2 x original_max_position_embeddings)
    batch_size=4,
    lr=3e-3,
    min_lr_ratio=0.1,
    warmup_steps=100,
    weight_decay=0.1,
    betas=(0.9, 0.95),
    grad_clip=1.0,
    aux_loss_alpha=0.01,    # load-balancing loss on the routers (training only)
    eval_every_s=120,       # held-out evaluation cadence (wall clock)
    eval_windows=32,        # fixed held-out windows for the periodic evaluation
    log_every=10,
    seed=1234,
)


# --------------------------------------------------------------------------- bootstrap

def bootstrap() -> None:
    """Run inside tools/fixtures/.venv, the pinned environment shared with the fixture generator:
    tools/fixtures/make_fixtures.py builds or updates it and re-executes this script there."""
    sys.path.insert(0, FIXTURES_TOOLS)
    import make_fixtures  # light: its heavy imports happen later, on demand
    if make_fixtures._inside_venv():
        return
    make_fixtures.bootstrap(os.path.abspath(__file__))


def _heavy_imports() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    global np, torch, F, transformers, safe_open, mdv2
    import numpy as np
    import torch
    import torch.nn.functional as F
    import transformers
    from safetensors import safe_open
    from transformers.models.deepseek_v2 import modeling_deepseek_v2 as mdv2

    transformers.logging.set_verbosity_error()


def no_grad(fn):
    """torch.no_grad() for functions defined before torch is imported (it is imported lazily)."""
    def wrapper(*a, **k):
        with torch.no_grad():
            return fn(*a, **k)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


# --------------------------------------------------------------------------- data

def load_text() -> bytes:
    if not os.path.exists(DATA):
        if not os.path.exists(SHARED_DATA):
            sys.exit(f"{DATA} is missing and {SHARED_DATA} is not there to copy it from")
        os.makedirs(os.path.dirname(DATA), exist_ok=True)
        shutil.copyfile(SHARED_DATA, DATA)
        os.chmod(DATA, 0o644)
        print(f"copied {SHARED_DATA} -> {os.path.relpath(DATA, REPO)}", flush=True)
    with open(DATA, "rb") as f:
        return f.read()


def split(text: bytes) -> tuple[bytes, bytes]:
    n = len(text) * 9 // 10
    return text[:n], text[n:]


def encode(b: bytes) -> list[int]:
    return [BOS] + list(b)


def decode(ids) -> str:
    return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- checks on transformers

FINDINGS: list[str] = []
PATCHES: list[str] = []


def yarn_m(factor: float, m: float) -> float:
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def check_transformers(model) -> None:
    """The two points of the semantics doc's Decisions table that a yarn + group-limited model
    depends on: the softmax scale d_qk^-0.5 * m^2, and max-per-group routing that runs."""
    cfg = model.config
    rp = cfg.rope_parameters
    want = (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim) ** -0.5 * yarn_m(rp["factor"], rp["mscale_all_dim"]) ** 2
    for layer in model.model.layers:
        if abs(layer.self_attn.scaling - want) > 1e-12 * want:
            PATCHES.append(f"attention scaling {layer.self_attn.scaling!r} -> {want!r}")
            layer.self_attn.scaling = want
    if not PATCHES:
        FINDINGS.append(f"softmax scale = d_qk^-0.5 * m^2 = {want:.12g} (m = {yarn_m(rp['factor'], rp['mscale_all_dim']):.12g}): "
                        "transformers has it (yarn_apply_mscale), no patch")
    # cos/sin attention factor mscale/mscale_all_dim = 1.0
    a = model.model.rotary_emb.attention_scaling
    assert abs(a - 1.0) < 1e-12, a
    FINDINGS.append("yarn cos/sin attention factor = 1.0 (mscale == mscale_all_dim)")

    gen = torch.Generator().manual_seed(7)
    moe = next(l.mlp for l in model.model.layers if isinstance(l.mlp, mdv2.DeepseekV2Moe))
    router = moe.gate
    h = torch.randn(64, cfg.hidden_size, generator=gen)
    with torch.no_grad():
        router.weight.normal_(0, 0.5, generator=gen)
        try:
            _, w_got, idx_got = router(h)
        except Exception as e:  # pragma: no cover
            raise SystemExit(f"group_limited_greedy router crashed in transformers ({e!r}); patch needed")
        E, G = cfg.n_routed_experts, cfg.n_group
        p = (h @ router.weight.T).softmax(-1, dtype=torch.float32).double()
        g = p.view(-1, G, E // G).max(-1).values
        keep = torch.zeros_like(g).scatter_(1, g.topk(cfg.topk_group, -1).indices, 1.0)
        top = (p * keep.repeat_interleave(E // G, 1)).topk(cfg.num_experts_per_tok, -1)
        router.weight.normal_(0, cfg.initializer_range, generator=gen)  # re-init (training starts after this)
    assert [sorted(r) for r in idx_got.tolist()] == [sorted(r) for r in top.indices.tolist()]
    assert (w_got.double().sort(-1).values - (p.gather(1, top.indices) * cfg.routed_scaling_factor).sort(-1).values).abs().max() < 1e-6
    FINDINGS.append("group_limited_greedy: group score = max probability in the group, top-2 groups kept, "
                    "top-2 experts of those, weights = softmax p (not renormalised) * routed_scaling_factor; "
                    "runs without crashing, no patch")


# --------------------------------------------------------------------------- model

def build_model(seed: int):
    cfg = mdv2.DeepseekV2Config(**{**MODEL, "rope_parameters": dict(YARN)})
    torch.manual_seed(seed)
    model = mdv2.DeepseekV2ForCausalLM(cfg).float()
    return model


def count_params(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    cfg = model.config
    n_moe = cfg.num_hidden_layers - cfg.first_k_dense_replace
    per_expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size
    active = total - n_moe * (cfg.n_routed_experts - cfg.num_experts_per_tok) * per_expert
    return total, active


def router_selection(logits, cfg):
    """The experts transformers' router picks, from its fp32 logits [T, E]."""
    E, G, k = cfg.n_routed_experts, cfg.n_group, cfg.num_experts_per_tok
    p = logits.softmax(-1, dtype=torch.float32)
    g = p.view(-1, G, E // G).max(-1).values
    keep = torch.zeros_like(g).scatter_(1, g.topk(cfg.topk_group, -1).indices, 1.0)
    return p, (p * keep.repeat_interleave(E // G, 1)).topk(k, -1).indices


def balance_loss(router_logits, cfg):
    """Switch-style load balancing over the routed experts, averaged over MoE layers:
    E * sum_e f_e * P_e, with f_e the fraction of (token, slot) pairs sent to e."""
    E, k = cfg.n_routed_experts, cfg.num_experts_per_tok
    losses = []
    for logits in router_logits:
        p, idx = router_selection(logits, cfg)
        f = torch.zeros(E, dtype=torch.float32).scatter_add_(0, idx.reshape(-1), torch.ones(idx.numel())) / idx.numel()
        losses.append(E * (f * p.mean(0)).sum())
    return torch.stack(losses).mean()


def expert_load(router_logits, cfg) -> list[list[float]]:
    out = []
    for logits in router_logits:
        _, idx = router_selection(logits, cfg)
        f = torch.bincount(idx.reshape(-1), minlength=cfg.n_routed_experts).float() / idx.numel()
        out.append([round(x, 3) for x in f.tolist()])
    return out


# --------------------------------------------------------------------------- logging

class Log:
    def __init__(self, path: str | None, mode: str = "w"):
        self.f = open(path, mode) if path else None

    def __call__(self, msg: str = "") -> None:
        print(msg, flush=True)
        if self.f:
            self.f.write(msg + "\n")
            self.f.flush()

    def close(self):
        if self.f:
            self.f.close()


# --------------------------------------------------------------------------- training

def eval_windows(heldout: bytes, n: int, seq_len: int):
    span = seq_len - 1
    starts = np.linspace(0, len(heldout) - span, n).astype(np.int64)
    rows = [encode(heldout[s:s + span]) for s in starts]
    return torch.tensor(rows, dtype=torch.long)


@no_grad
def evaluate(model, windows, bs: int = 8) -> float:
    was = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, windows.shape[0], bs):
        x = windows[i:i + bs]
        out = model(input_ids=x, labels=x, use_cache=False)
        n = x.shape[0] * (x.shape[1] - 1)
        total += out.loss.item() * n
        count += n
    model.train(was)
    return total / count


def lr_at(step: int, progress: float, t: dict) -> float:
    if step < t["warmup_steps"]:
        return t["lr"] * (step + 1) / t["warmup_steps"]
    c = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return t["lr"] * (t["min_lr_ratio"] + (1 - t["min_lr_ratio"]) * c)


def make_optimizer(model, t):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "embed_tokens" not in name else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=t["lr"], betas=t["betas"], eps=1e-8)


def train(args) -> int:
    t0 = time.time()
    t = dict(TRAIN)
    if args.batch_size:
        t["batch_size"] = args.batch_size
    if args.seq_len:
        t["seq_len"] = args.seq_len
    os.makedirs(args.out, exist_ok=True)
    log = Log(None if args.bench else os.path.join(args.out, "training_log.txt"))
    text = load_text()
    train_b, held_b = split(text)
    train_arr = np.frombuffer(train_b, dtype=np.uint8).astype(np.int64)

    torch.manual_seed(t["seed"])
    rng = np.random.default_rng(t["seed"])
    model = build_model(t["seed"])
    check_transformers(model)
    model.set_attn_implementation(args.attn)
    model.set_experts_implementation(args.experts)
    model.train()
    cfg = model.config
    total, active = count_params(model)
    budget_s = args.minutes * 60.0

    log(f"# dsv2 demo model: byte-level DeepSeek-V2 on Tiny Shakespeare ({os.path.relpath(__file__, REPO)})")
    log(f"# started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; torch {torch.__version__}, transformers "
        f"{transformers.__version__}, {torch.get_num_threads()} threads, CPU, fp32")
    log(f"# data: {os.path.relpath(DATA, REPO)} ({len(text)} bytes): train {len(train_b)} bytes, "
        f"held-out {len(held_b)} bytes (last 10%)")
    log(f"# params: {total:,} total, {active:,} active per token")
    log("# config: " + json.dumps({k: v for k, v in MODEL.items()}, sort_keys=True))
    log("# training: " + json.dumps({**t, "minutes": args.minutes, "attn": args.attn,
                                       "experts": args.experts}, sort_keys=True))
    for f_ in FINDINGS:
        log("# transformers check: " + f_)
    log("# patches to transformers: " + ("; ".join(PATCHES) if PATCHES else "none"))
    log("# lr: linear warmup, then cosine over the wall-clock budget (progress = elapsed / budget)")

    windows = eval_windows(held_b, t["eval_windows"], t["seq_len"])
    opt = make_optimizer(model, t)
    B, S = t["batch_size"], t["seq_len"]
    span = S - 1
    step, tokens, last_eval = 0, 0, time.time()
    ema = None
    t_train0 = time.time()
    window_tokens, window_t = 0, time.time()
    log(f"{'step':>6} {'loss':>7} {'ema':>7} {'aux':>6} {'lr':>8} {'tok/s':>7} {'elapsed':>8}")
    while True:
        elapsed = time.time() - t_train0
        if elapsed >= budget_s or (args.max_steps and step >= args.max_steps):
            break
        starts = rng.integers(0, len(train_arr) - span, size=B)
        x = torch.empty(B, S, dtype=torch.long)
        x[:, 0] = BOS
        for i, s in enumerate(starts):
            x[i, 1:] = torch.from_numpy(train_arr[s:s + span])
        lr = lr_at(step, elapsed / budget_s, t)
        for g in opt.param_groups:
            g["lr"] = lr
        out = model(input_ids=x, labels=x, use_cache=False, output_router_logits=True)
        aux = balance_loss(out.router_logits, cfg)
        loss = out.loss + t["aux_loss_alpha"] * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        step += 1
        tokens += B * S
        window_tokens += B * S
        lv = out.loss.item()
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if step % t["log_every"] == 0 or step == 1:
            now = time.time()
            tps = window_tokens / (now - window_t)
            window_tokens, window_t = 0, now
            log(f"{step:>6} {lv:7.4f} {ema:7.4f} {aux.item():6.3f} {lr:8.2e} {tps:7.0f} {now - t0:7.1f}s")
            if args.bench and step >= 2 * t["log_every"]:
                break
        if not args.bench and time.time() - last_eval >= t["eval_every_s"]:
            hl = evaluate(model, windows)
            log(f"# eval step {step}: held-out loss {hl:.4f} ({t['eval_windows']} windows x {S} tokens), "
                f"tokens seen {tokens:,}, elapsed {time.time() - t0:.1f}s")
            last_eval = time.time()
    train_s = time.time() - t_train0
    if args.bench:
        return 0
    with torch.no_grad():
        probe = model(input_ids=windows[:8], use_cache=False, output_router_logits=True)
        loads = expert_load(probe.router_logits, cfg)
    hl = evaluate(model, windows)
    log(f"# end of training: {step} steps, {tokens:,} tokens ({tokens / len(train_b):.2f} epochs), "
        f"{train_s:.1f}s, {tokens / train_s:.0f} tokens/s; final train loss (ema) {ema:.4f}; "
        f"held-out loss (fp32 weights) {hl:.4f}")
    log("# routed-expert load on held-out windows (fraction of slots per expert, per MoE layer): "
        + json.dumps(loads))

    # ---- save (bf16), reload, evaluate from the saved weights
    save(model, args.out)
    summary = finalize(args.out, held_b, log)
    summary.update(steps=step, tokens=tokens, train_seconds=round(train_s, 1),
                   tokens_per_second=round(tokens / train_s, 1), train_loss_ema=round(ema, 4),
                   heldout_windows_loss_fp32=round(hl, 4), params=total, active_params=active)
    wall = time.time() - t0
    summary["wall_seconds"] = round(wall, 1)
    log("# summary: " + json.dumps(summary, sort_keys=True))
    log.close()
    if wall > HARD_LIMIT_S:
        print(f"WARNING: run took {wall:.0f}s > {HARD_LIMIT_S}s", flush=True)
    return 0


def save(model, out_dir: str) -> None:
    model = model.to(torch.bfloat16)
    model.config.use_cache = True
    for fn in ("model.safetensors", "config.json", "generation_config.json", "model.safetensors.index.json"):
        p = os.path.join(out_dir, fn)
        if os.path.exists(p):
            os.remove(p)
    model.save_pretrained(out_dir)   # default save_original_format=True: per-expert tensor names
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    for fn in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, fn), 0o644)
    model.to(torch.float32)


def check_saved_layout(out_dir: str) -> dict:
    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        names = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    dtypes = set(names.values())
    assert dtypes == {"BF16"}, dtypes
    cfg = json.load(open(os.path.join(out_dir, "config.json")))
    assert cfg.get("dtype") == "bfloat16", cfg.get("dtype")
    n_moe = cfg["num_hidden_layers"] - cfg["first_k_dense_replace"]
    per_expert = [k for k in names if ".mlp.experts." in k]
    assert len(per_expert) == n_moe * cfg["n_routed_experts"] * 3, len(per_expert)
    assert not any(k.endswith("experts.gate_up_proj") or k.endswith("experts.down_proj") for k in names)
    assert "model.layers.1.mlp.experts.0.gate_proj.weight" in names
    assert "lm_head.weight" in names
    return dict(tensors=len(names), bytes=os.path.getsize(os.path.join(out_dir, "model.safetensors")))


def load_saved(out_dir: str):
    model = mdv2.DeepseekV2ForCausalLM.from_pretrained(
        out_dir, dtype=torch.float32, attn_implementation="eager", experts_implementation="eager")
    model.eval()
    for n, p in model.named_parameters():
        assert p.dtype == torch.float32, (n, p.dtype)
    return model


class MarginProbe:
    """Smallest log-probability margin of every discrete routing decision (the topk_group-th
    vs the next group, the k-th vs the next expert) over the tokens of one forward pass."""

    def __init__(self, model):
        self.worst = float("inf")
        self.handles = [m.register_forward_hook(self.hook) for m in model.modules()
                        if isinstance(m, mdv2.DeepseekV2TopkRouter)]

    def hook(self, router, inputs, output):
        lp = output[0].log_softmax(-1, dtype=torch.float32).double()
        E, G, tg, k = router.num_experts, router.num_group, router.topk_group, router.top_k
        g = lp.view(-1, G, E // G).max(-1).values
        gs = g.sort(-1, descending=True).values
        m = (gs[:, tg - 1] - gs[:, tg]).min().item()
        keep = torch.zeros_like(g).scatter_(1, g.topk(tg, -1).indices, 1.0)
        lp = lp.masked_fill(keep.repeat_interleave(E // G, 1) == 0, float("-inf"))
        s = lp.sort(-1, descending=True).values
        m = min(m, (s[:, k - 1] - s[:, k]).min().item())
        self.worst = min(self.worst, m)

    def close(self):
        for h in self.handles:
            h.remove()


@no_grad
def heldout_slice_loss(model, ids: list[int]) -> tuple[float, float]:
    x = torch.tensor([ids], dtype=torch.long)
    probe = MarginProbe(model)
    loss = model(input_ids=x, labels=x, use_cache=False).loss.item()
    probe.close()
    return loss, probe.worst


@no_grad
def greedy(model, prompt: str):
    ids = encode(prompt.encode("utf-8"))
    x = torch.tensor([ids], dtype=torch.long)
    gc = transformers.GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=MAX_NEW_TOKENS,
                                       eos_token_id=EOS, pad_token_id=PAD, bos_token_id=BOS, use_cache=True)
    seq = model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=gc)[0].tolist()
    # cache-free re-run: the same argmaxes, and how close each was to a tie
    gap, probe = float("inf"), MarginProbe(model)
    full = torch.tensor([seq], dtype=torch.long)
    logits = model(input_ids=full, use_cache=False).logits[0]
    probe.close()
    agrees = True
    for pos in range(len(ids) - 1, len(seq) - 1):
        top2 = logits[pos].topk(2).values
        gap = min(gap, (top2[0] - top2[1]).item())
        agrees &= logits[pos].argmax().item() == seq[pos + 1]
    return ids, seq, gap, probe.worst, agrees


@no_grad
def split_loss(model, held_b: bytes, bs: int = 32) -> tuple[float, int]:
    """transformers' LM loss over the WHOLE held-out split: consecutive, non-overlapping rows of
    HELDOUT_SLICE_LEN bytes (the last one shorter), each with bos first, as in training; the mean
    over all predicted bytes (token-weighted). Returns (loss, number of predicted bytes)."""
    n = HELDOUT_SLICE_LEN
    rows = [encode(held_b[i:i + n]) for i in range(0, len(held_b), n)]
    total, count = 0.0, 0
    groups = [[r for r in rows if len(r) == n + 1]] + [[r] for r in rows if len(r) != n + 1]
    for group in groups:
        for i in range(0, len(group), bs):
            x = torch.tensor(group[i:i + bs], dtype=torch.long)
            out = model(input_ids=x, labels=x, use_cache=False)
            k = x.shape[0] * (x.shape[1] - 1)
            total += out.loss.item() * k
            count += k
    return total / count, count


def pick_slice(model, held_b: bytes, candidates: int = 24) -> tuple[int, float, float]:
    """The fixed held-out slice: of `candidates` evenly spaced slices, the one whose routing
    decisions have the largest smallest log-probability margin (top-2 groups vs the third, top-2
    experts vs the third), so that another fp32 implementation (relative error ~1e-6) cannot
    flip an expert choice. The margin is recorded in heldout.json."""
    n = HELDOUT_SLICE_LEN
    best = None
    for j in range(candidates):
        off = (len(held_b) - n) * j // candidates
        loss, margin = heldout_slice_loss(model, encode(held_b[off:off + n]))
        if best is None or margin > best[2]:
            best = (off, loss, margin)
    return best


def finalize(out_dir: str, held_b: bytes, log) -> dict:
    layout = check_saved_layout(out_dir)
    model = load_saved(out_dir)
    check_transformers_scale_only(model)
    off, loss, margin = pick_slice(model, held_b)
    ids = encode(held_b[off:off + HELDOUT_SLICE_LEN])
    full, n_pred = split_loss(model, held_b)
    heldout = {
        "description": "transformers' causal-LM loss (labels = input_ids, mean over the shifted targets) of the "
                       "saved bf16 checkpoint upcast to fp32 (eager attention, eager experts), on bytes "
                       "[slice_offset, slice_offset + slice_length) of the held-out text (the last 10% of "
                       "tools/demo/data/tinyshakespeare.txt), bos first",
        "heldout_start_byte": len(load_text()) - len(held_b),
        "slice_offset": off,
        "slice_length": HELDOUT_SLICE_LEN,
        "input_ids": ids,
        "loss": loss,
        "min_router_log_margin": margin,
        "slice_note": "the slice is the one of 24 evenly spaced candidates with the largest smallest routing "
                      "margin (min_router_log_margin: log p of the last chosen group/expert minus the next), so "
                      "that no expert choice is near a tie; its loss is therefore not a representative held-out "
                      "loss - heldout_split_loss is",
        "heldout_split_loss": full,
        "heldout_split_predicted_bytes": n_pred,
        "heldout_split_note": "same model and loss over the whole held-out split in consecutive rows of "
                              "slice_length bytes, bos first (token-weighted mean)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    with open(os.path.join(out_dir, "heldout.json"), "w") as f:
        json.dump(heldout, f)
        f.write("\n")
    log(f"# held-out loss of the saved bf16 weights (in fp32) over the whole held-out split: {full:.6f} nats/byte "
        f"({n_pred} predicted bytes, rows of {HELDOUT_SLICE_LEN} bytes after bos)")
    log(f"# heldout.json slice: offset {off}, {HELDOUT_SLICE_LEN} bytes, loss {loss:.6f} nats/byte "
        f"(saved bf16 weights in fp32), smallest router log-margin {margin:.3g} (picked for its margin)")
    samples = []
    for prompt in PROMPTS:
        ids_p, seq, gap, rmargin, agrees = greedy(model, prompt)
        new = seq[len(ids_p):]
        samples.append({"prompt": prompt, "input_ids": ids_p, "output_ids": seq, "new_ids": new,
                        "eos_emitted": EOS in new, "text": decode(seq), "min_argmax_logit_gap": gap,
                        "min_router_log_margin": rmargin, "cache_free_pass_agrees": agrees})
        log(f"# greedy sample (prompt {prompt!r}, eos emitted: {EOS in new}, smallest top-1/top-2 logit gap "
            f"{gap:.3g}, router log-margin {rmargin:.3g}, cache-free argmax agrees: {agrees}):")
        for line in decode(seq).split("\n"):
            log("#   | " + line)
    generate = {
        "description": "transformers generate(do_sample=False, num_beams=1, max_new_tokens=%d, eos_token_id=%d, "
                       "pad_token_id=%d) on the saved bf16 checkpoint upcast to fp32 (eager attention and "
                       "experts); output_ids = prompt ids + new ids; text = output bytes decoded as UTF-8 "
                       "(special ids dropped)" % (MAX_NEW_TOKENS, EOS, PAD),
        "max_new_tokens": MAX_NEW_TOKENS,
        "samples": samples,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    with open(os.path.join(out_dir, "generate.json"), "w") as f:
        json.dump(generate, f, indent=1)
        f.write("\n")
    for fn in ("heldout.json", "generate.json"):
        os.chmod(os.path.join(out_dir, fn), 0o644)
    return dict(heldout_slice_loss=round(loss, 6), heldout_slice_offset=off, safetensors_bytes=layout["bytes"],
                tensors=layout["tensors"], heldout_split_loss=round(full, 6))


def check_transformers_scale_only(model) -> None:
    cfg = model.config
    rp = cfg.rope_parameters
    want = (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim) ** -0.5 * yarn_m(rp["factor"], rp["mscale_all_dim"]) ** 2
    for layer in model.model.layers:
        if abs(layer.self_attn.scaling - want) > 1e-12 * want:
            layer.self_attn.scaling = want    # only reached on a transformers without the m^2 fix


# --------------------------------------------------------------------------- --check

def check(out_dir: str) -> int:
    ok = True
    layout = check_saved_layout(out_dir)
    print(f"layout: {layout['tensors']} BF16 tensors, per-expert names, {layout['bytes']} bytes")
    model = load_saved(out_dir)
    check_transformers_scale_only(model)
    h = json.load(open(os.path.join(out_dir, "heldout.json")))
    _, held_b = split(load_text())
    ids = encode(held_b[h["slice_offset"]:h["slice_offset"] + h["slice_length"]])
    if ids != h["input_ids"]:
        print("heldout: input_ids do not match the data file")
        ok = False
    loss, margin = heldout_slice_loss(model, h["input_ids"])
    rel = abs(loss - h["loss"]) / abs(h["loss"])
    good = rel <= CHECK_LOSS_RTOL
    ok &= good
    print(f"heldout: loss {loss:.8f} vs {h['loss']:.8f} (relative {rel:.2e}, router margin {margin:.3g})"
          + ("" if good else "  FAIL"))
    if "heldout_split_loss" in h:
        full, _ = split_loss(model, held_b)
        rel = abs(full - h["heldout_split_loss"]) / abs(h["heldout_split_loss"])
        good = rel <= CHECK_LOSS_RTOL
        ok &= good
        print(f"heldout split: loss {full:.8f} vs {h['heldout_split_loss']:.8f} (relative {rel:.2e})"
              + ("" if good else "  FAIL"))
    g = json.load(open(os.path.join(out_dir, "generate.json")))
    for s in g["samples"]:
        ids_p, seq, gap, _, _ = greedy(model, s["prompt"])
        same = ids_p == s["input_ids"] and seq == s["output_ids"]
        ok &= same
        print(f"generate {s['prompt']!r}: {'identical' if same else 'DIFFERENT'} (min logit gap {gap:.3g})")
    print("CHECK OK" if ok else "CHECK FAILED")
    return 0 if ok else 1


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=25.0, help="training wall-clock budget (default 25)")
    ap.add_argument("--out", default=OUT_DIR, help="output directory (default examples/models/shakespeare)")
    ap.add_argument("--check", action="store_true", help="verify the checkpoint in --out against its JSON files")
    ap.add_argument("--finalize", action="store_true",
                    help="recompute heldout.json and generate.json from the checkpoint in --out (no training); "
                         "appends to its training_log.txt")
    ap.add_argument("--bench", action="store_true", help="time a few training steps and exit (writes nothing)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: budget only)")
    ap.add_argument("--batch-size", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on this shared 2-core machine 2 threads measured ~5x "
                         "slower under load from other processes; see README)")
    ap.add_argument("--attn", default="sdpa", help="attention implementation for training (sdpa|eager)")
    ap.add_argument("--experts", default="eager", help="experts implementation for training")
    args = ap.parse_args()
    if args.minutes * 60 > HARD_LIMIT_S - 180:
        ap.error("--minutes must leave at least 3 minutes of the 30-minute limit for the final evaluation")
    bootstrap()
    _heavy_imports()
    args.out = os.path.abspath(args.out)
    torch.set_num_threads(args.threads)
    if args.check:
        return check(args.out)
    if args.finalize:
        log = Log(os.path.join(args.out, "training_log.txt"), mode="a")
        log(f"# --finalize {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: heldout.json and generate.json recomputed "
            "from the saved checkpoint (no training)")
        _, held_b = split(load_text())
        log("# finalize summary: " + json.dumps(finalize(args.out, held_b, log), sort_keys=True))
        log.close()
        return 0
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
