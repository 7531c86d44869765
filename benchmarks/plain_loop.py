"""The reference: a plain PyTorch char-level LSTM loop, as a careful user writes it by hand.

    python benchmarks/plain_loop.py --train train.txt --val val.txt --layers 1 --hidden 384 \
        --batch 16 --seq 64 --lr 5e-3 --time 150

nn.Embedding -> nn.LSTM -> nn.Linear, Adam at a constant rate, gradient clipping at 1.0,
the hidden state carried (detached) between windows of contiguous streams, no dropout,
fp32. It trains for ``--time`` seconds of wall clock (setup excluded), then evaluates the
final weights on every character of ``--val`` (not counted in the budget) and prints one
JSON line: steps, tokens, tokens/s and the validation loss in nats per character.
Nothing from rnngen is imported.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

ap = argparse.ArgumentParser()
for name, kind in (("train", str), ("val", str), ("layers", int), ("hidden", int), ("embed", int),
                   ("batch", int), ("seq", int), ("lr", float), ("time", float), ("threads", int), ("seed", int)):
    ap.add_argument(f"--{name}", type=kind, default={"embed": 64, "seq": 64, "threads": 0, "seed": 0}.get(name))
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

train_text = open(args.train, encoding="utf-8").read()
val_text = open(args.val, encoding="utf-8").read()
chars = sorted(set(train_text) | set(val_text))
index = {ch: i for i, ch in enumerate(chars)}
V = len(chars)


def streams(text: str, batch: int) -> torch.Tensor:
    ids = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    n = ids.numel() // batch
    return ids[: n * batch].view(batch, n)


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, args.embed)
        self.lstm = nn.LSTM(args.embed, args.hidden, args.layers, batch_first=True)
        self.head = nn.Linear(args.hidden, V)

    def forward(self, x, state=None):
        out, state = self.lstm(self.emb(x), state)
        return self.head(out), state


model = CharLSTM()
opt = torch.optim.Adam(model.parameters(), lr=args.lr)
data = streams(train_text, args.batch)
steps, pos, state = 0, 0, None
start = time.perf_counter()
while time.perf_counter() - start < args.time:
    if pos + args.seq + 1 > data.shape[1]:
        pos, state = 0, None
    x, y = data[:, pos : pos + args.seq], data[:, pos + 1 : pos + args.seq + 1]
    pos += args.seq
    logits, state = model(x, state)
    state = tuple(s.detach() for s in state)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    steps += 1
train_s = time.perf_counter() - start

model.eval()
# The same layout as `rnngen eval`: 32 streams of 256-token windows, state carried, and the
# ragged tail evaluated too, so every character but the first is predicted once.
ids = torch.tensor([index[ch] for ch in val_text], dtype=torch.long)
n = ids.numel()
streams_n = min(32, (n - 1) // 256)
stream_len = (n - 1) // streams_n
main = streams_n * stream_len
xs, ys = ids[:main].view(streams_n, stream_len), ids[1 : main + 1].view(streams_n, stream_len)
pieces = [(xs[:, p : p + 256], ys[:, p : p + 256], p == 0) for p in range(0, stream_len, 256)]
tail = [(ids[main + p : n - 1][: 256][None], ids[main + 1 + p : n][: 256][None], p == 0)
        for p in range(0, n - 1 - main, 256)]
total, count, state = 0.0, 0, None
with torch.no_grad():
    for x, y, fresh in pieces + tail:
        if fresh or state[0].shape[1] != x.shape[0]:
            state = None
        logits, state = model(x, state)
        total += F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="sum").item()
        count += y.numel()
tokens = steps * args.batch * args.seq
print(json.dumps({"steps": steps, "tokens": tokens, "tokens_per_s": round(tokens / train_s),
                  "train_s": round(train_s, 1), "val_loss": round(total / count, 4), "val_tokens": count}))
