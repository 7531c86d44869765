"""Word-level recipe screening (issue 11, target 4): rnngen's own model on tiny-shakespeare's
words, with the optimizer, schedule, dropout and initialisation varied; one JSON line per epoch
(validation over all of valid.txt, 10 streams carrying their state, as word_language_model does).

    .venv/bin/python benchmarks/bench_word_recipes.py --data DIR --opt sgd --lr 20 --clip 0.25 \
        --dropout 0.2 --sched cosine --epochs 5 --wlm-init --no-unigram --name sgd_cos

DIR holds train.txt and valid.txt as bench_word_level.py writes them (``--keep DIR``: its
``DIR/data``). One thread. Results: results/word_recipes-2026-12-03.jsonl and README.md.
"""

import argparse, math, time, json, torch, torch.nn.functional as F
from rnngen.model import ModelConfig, RNNLanguageModel

ap = argparse.ArgumentParser()
ap.add_argument("--opt", default="adam")
ap.add_argument("--lr", type=float, default=3e-3)
ap.add_argument("--beta1", type=float, default=0.9)
ap.add_argument("--wd", type=float, default=0.01)
ap.add_argument("--dropout", type=float, default=0.2)
ap.add_argument("--tie", action="store_true")
ap.add_argument("--sched", default="cosine")
ap.add_argument("--epochs", type=float, default=5)
ap.add_argument("--clip", type=float, default=1.0)
ap.add_argument("--hidden", type=int, default=200)
ap.add_argument("--name", default="x")
ap.add_argument("--data", required=True, help="folder with train.txt and valid.txt")
ap.add_argument("--no-unigram", action="store_true")
ap.add_argument("--wlm-init", action="store_true")
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(1337)


def words(p):
    return [w for line in open(p, encoding="utf-8") for w in line.split() + ["<eos>"]]


tr, va = words(a.data + "/train.txt"), words(a.data + "/valid.txt")
vocab = {w: i for i, w in enumerate(sorted(set(tr) | set(va)))}
V = len(vocab)
trn = torch.tensor([vocab[w] for w in tr])
val = torch.tensor([vocab[w] for w in va])
B, T = 20, 35
n = trn.numel() // B
streams = trn[: n * B].view(B, n)
m = RNNLanguageModel(
    ModelConfig(cell="lstm", vocab_size=V, embed=a.hidden, hidden=a.hidden, layers=2, dropout=a.dropout, tie=a.tie)
)
counts = torch.bincount(trn, minlength=V)
if not a.no_unigram:
    m.init_output_bias(counts)
if a.wlm_init:
    torch.nn.init.uniform_(m.embedding.weight, -0.1, 0.1)
    torch.nn.init.zeros_(m.head.bias)
    if not a.tie:
        torch.nn.init.uniform_(m.head.weight, -0.1, 0.1)
    m.rnn.reset_parameters()
if a.opt == "sgd":
    opt = torch.optim.SGD(m.parameters(), lr=a.lr)
else:
    dec = [p for nme, p in m.named_parameters() if p.dim() >= 2 and not nme.startswith("embedding")]
    nod = [p for nme, p in m.named_parameters() if not (p.dim() >= 2 and not nme.startswith("embedding"))]
    opt = torch.optim.AdamW(
        [{"params": dec, "weight_decay": a.wd}, {"params": nod, "weight_decay": 0}], lr=a.lr, betas=(a.beta1, 0.99)
    )
wpe = (n - 1) // T
total = int(a.epochs * wpe)


def evaluate():
    m.eval()
    vb = 10
    vn = val.numel() // vb
    vs = val[: vn * vb].view(vb, vn)
    st = None
    tot = 0.0
    cnt = 0
    with torch.no_grad():
        for i in range(0, vn - 1, 128):
            x = vs[:, i : i + 128]
            y = vs[:, i + 1 : i + 129]
            x = x[:, : y.shape[1]]
            lg, st = m(x, st)
            tot += F.cross_entropy(lg.reshape(-1, V), y.reshape(-1), reduction="sum").item()
            cnt += y.numel()
    m.train()
    return tot / cnt


scale = 1.0
best = 1e9
t0 = time.time()
step = 0
state = None
for ep in range(math.ceil(a.epochs)):
    state = None
    for w in range(wpe):
        if step >= total:
            break
        i = w * T
        x = streams[:, i : i + T]
        y = streams[:, i + 1 : i + T + 1]
        warm = min(1.0, (step + 1) / 50) if a.opt != "sgd" else 1.0
        lr = a.lr * warm * scale
        if a.sched == "cosine" and step >= 50:
            lr = a.lr * scale * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total)))
        for g in opt.param_groups:
            g["lr"] = lr
        lg, state = m(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(lg.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
        opt.step()
        step += 1
    v = evaluate()
    if a.sched == "plateau" and v >= best:
        scale /= 4
    best = min(best, v)
    print(
        json.dumps(
            {
                "name": a.name,
                "epoch": ep + 1,
                "step": step,
                "val": round(v, 4),
                "ppl": round(math.exp(v), 2),
                "best_ppl": round(math.exp(best), 2),
                "train": round(loss.item(), 3),
                "s": round(time.time() - t0),
            }
        ),
        flush=True,
    )
