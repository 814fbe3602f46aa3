"""Label every element of a sequence with its value modulo 3 (many-to-many).

Sequences of integers 0..9 have random lengths and are right-padded. Token ids are
``value + 1`` so that id 0 can be the padding; the label of every real element is
``value % 3`` and the label of every padding position is ``ignore_index`` (-100), so
``CrossEntropyLoss`` neither counts nor differentiates them. The model predicts at every
step: Embedding -> GRU -> Linear applied to each step's output, logits ``(B, T, 3)``.
Accuracy is counted over real elements only.

    python examples/many_to_many_labelling.py --epochs 10
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab as rl

PAD = 0
IGNORE = -100


def make_sequences(n: int, max_value: int, min_len: int, max_len: int,
                   rng: np.random.Generator):
    """Token ids ``(n, T)``, labels ``(n, T)`` with ``IGNORE`` on padding, lengths ``(n,)``."""
    lengths = rng.integers(min_len, max_len + 1, size=n)
    T = int(lengths.max())
    tokens = np.full((n, T), PAD, dtype=np.int64)
    labels = np.full((n, T), IGNORE, dtype=np.int64)
    for i, k in enumerate(lengths):
        values = rng.integers(0, max_value + 1, size=k)
        tokens[i, :k] = values + 1
        labels[i, :k] = values % 3
    return tokens, labels, lengths


def main(argv: list[str] | None = None) -> float:
    """Train and return the final per-element validation accuracy."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--max-value", type=int, default=9)
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x, y, lengths = make_sequences(args.samples, args.max_value, 5, args.max_length, rng)
    n_val = args.samples // 5
    train = (x[n_val:], y[n_val:], lengths[n_val:])
    x_val, y_val, len_val = x[:n_val], y[:n_val], lengths[:n_val]

    emb = 8
    model = rl.Sequential(
        rl.Embedding(args.max_value + 2, emb, padding_idx=PAD, seed=args.seed),
        rl.GRU(emb, args.hidden, batch_first=True, seed=args.seed),
        rl.Linear(args.hidden, 3, seed=args.seed),   # acts on every step of (B, T, H)
    )
    loss_fn = rl.CrossEntropyLoss(ignore_index=IGNORE)
    opt = rl.Adam(model.parameters(), lr=args.lr)

    accuracy = 0.0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train[0]))
        losses = []
        for start in range(0, len(order), args.batch_size):
            idx = order[start:start + args.batch_size]
            xb, yb, lb = (a[idx] for a in train)
            opt.zero_grad()
            logits = model(xb, lengths=lb)        # (B, T, 3)
            losses.append(loss_fn(logits, yb))    # mean over non-padding elements
            model.backward(loss_fn.backward())    # zero gradient at padding positions
            rl.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        with rl.no_grad():
            pred = model(x_val, lengths=len_val).argmax(axis=-1)
        real = y_val != IGNORE
        accuracy = float(np.mean(pred[real] == y_val[real]))
        print(f"epoch {epoch + 1:3d}  train loss {np.mean(losses):.4f}  "
              f"val accuracy {accuracy:.4f}")

    k = int(len_val[0])
    print("values:", " ".join(str(t - 1) for t in x_val[0, :k]))
    print("labels:", " ".join(str(v) for v in pred[0, :k]))
    print(f"final validation accuracy {accuracy:.4f} over {int(real.sum())} elements")
    return accuracy


if __name__ == "__main__":
    main()
