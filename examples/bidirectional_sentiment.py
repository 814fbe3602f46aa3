"""Why reversing the input, or reading it both ways, helps: sentiment with padding.

Sentences such as "the film was not very good in my opinion" are labelled by a rule: the
adjective's sentiment, flipped by "not". The words that decide sit in the middle, often
followed by a neutral tail (here every sentence gets one: ``--tail 1``). A forward-only GRU
classifies from its state after the last word, so it must carry "not" and the adjective
through the tail. Three models, same sentences, same seed:

1. forward: reads the words in order;
2. reversed: reads each sentence backwards (the padding stays on the right), so the
   deciding words come near its last step;
3. bidirectional: a forward and a reverse direction; ``LastStep(num_directions=2)`` joins
   the forward output at each sentence's last word with the reverse output at its first.

Batches are padded with id 0 and ``lengths`` gives each sentence's word count: padding is
never read, and the reverse direction starts at each sentence's own last word.

All three can learn the rule; the difference is how soon. After the default 5 short epochs
the reversed and bidirectional models are near 100 % while the forward one is still close
to chance. Give it ``--epochs 10`` and it catches up.

    python examples/bidirectional_sentiment.py --epochs 10
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab as rl
from rnnlab.plugins.tasks import SentimentTask


def train_and_score(data, vocab_size: int, bidirectional: bool, args) -> float:
    """Train one model; return its validation accuracy."""
    train, val = data.train, data.val
    dirs = 2 if bidirectional else 1
    model = rl.Sequential(
        rl.Embedding(vocab_size, args.embedding, padding_idx=0, seed=args.seed),
        rl.GRU(args.embedding, args.hidden, batch_first=True, bidirectional=bidirectional,
               seed=args.seed),
        rl.LastStep(batch_first=True, num_directions=dirs),
        rl.Linear(dirs * args.hidden, 2, seed=args.seed),
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
            losses.append(loss_fn(model(batch.x, lengths=batch.lengths), batch.y))
            model.backward(loss_fn.backward())
            rl.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        with rl.no_grad():
            pred = model(val.x, lengths=val.lengths).argmax(axis=1)
        accuracy = float(np.mean(pred == val.y))
        print(f"  epoch {epoch + 1:3d}  train loss {np.mean(losses):.4f}  "
              f"val accuracy {accuracy:.3f}")
    return accuracy


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train the three models; return their validation accuracies by name."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--tail", type=float, default=1.0,
                   help="probability of a neutral phrase after the adjective")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--embedding", type=int, default=16)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    forward = SentimentTask(samples=args.samples, tail=args.tail)
    vocab = forward.spec().vocab
    runs = {
        "forward": (forward, False),
        # the same seed draws the same sentences; only the word order differs
        "reversed": (SentimentTask(samples=args.samples, tail=args.tail, reverse=True), False),
        "bidirectional": (forward, True),
    }
    results = {}
    for name, (task, bidirectional) in runs.items():
        data = task.make_data(args.seed)
        first = data.train.x[0, :data.train.lengths[0]]
        print(f"{name}: e.g. \"{' '.join(vocab[i] for i in first)}\"")
        results[name] = train_and_score(data, len(vocab), bidirectional, args)
    print("validation accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in results.items()))
    return results


if __name__ == "__main__":
    main()
