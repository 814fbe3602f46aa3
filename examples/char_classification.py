"""Tell which language a word comes from, one character at a time (sequence classification).

Words from the corpus shipped with rnnlab (English, German, Italian, Japanese romaji) become
character ids, right-padded with id 0 to the longest word of the batch. The model is

    Embedding(padding_idx=0) -> GRU or LSTM -> LastStep -> Linear -> 4 class logits

``lengths`` tells the recurrent layer where each word ends: steps past it are skipped, and
``LastStep`` picks the output at each word's own last character, not at the padding.
Chance is 25 %.

    python examples/char_classification.py --cell lstm --epochs 30
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab as rl
from rnnlab.plugins.tasks import CharClassTask


def main(argv: list[str] | None = None) -> float:
    """Train and return the final validation accuracy."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embedding", type=int, default=16)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    task = CharClassTask(max_length=12)
    spec = task.spec()                     # vocab ("<pad>", characters...), class names
    data = task.make_data(args.seed)       # x (N, T) int64, y (N,) int64, lengths (N,)
    train, val = data.train, data.val
    print(f"{len(train)} training words, {len(val)} validation words, "
          f"classes {', '.join(spec.class_names)}")

    recurrent = rl.GRU if args.cell == "gru" else rl.LSTM
    model = rl.Sequential(
        rl.Embedding(spec.vocab_size, args.embedding, padding_idx=0, seed=args.seed),
        recurrent(args.embedding, args.hidden, batch_first=True, seed=args.seed),
        rl.LastStep(batch_first=True),
        rl.Linear(args.hidden, len(spec.class_names), seed=args.seed),
    )
    loss_fn = rl.CrossEntropyLoss()
    opt = rl.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)

    accuracy = 0.0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        losses = []
        for start in range(0, len(order), args.batch_size):
            batch = train.batch(order[start:start + args.batch_size])
            opt.zero_grad()
            logits = model(batch.x, lengths=batch.lengths)   # (B, classes)
            losses.append(loss_fn(logits, batch.y))
            model.backward(loss_fn.backward())
            rl.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        with rl.no_grad():
            logits = model(val.x, lengths=val.lengths)
        accuracy = float(np.mean(logits.argmax(axis=1) == val.y))
        print(f"epoch {epoch + 1:3d}  train loss {np.mean(losses):.4f}  "
              f"val accuracy {accuracy:.3f}")

    words = data.info["words"][len(train):]
    guesses = logits.argmax(axis=1)
    for i in range(5):
        print(f"  {words[i]:>14s}: {spec.class_names[guesses[i]]:9s} "
              f"(true: {spec.class_names[val.y[i]]})")
    print(f"final validation accuracy {accuracy:.3f} (chance 0.25)")
    return accuracy


if __name__ == "__main__":
    main()
