"""Predict the next value of a noisy sine wave with an LSTM (many-to-one regression).

Each sample is ``length`` noisy values of ``sin(w t + phase)`` with a random frequency and
phase; the target is the clean value one step later. The LSTM reads the whole sequence, its
output at the last step goes through a linear layer, and the MSE against the target is
minimised. Predicting 0 always scores MSE 0.5 (the variance of a sine), so anything well
below that means the network has inferred frequency and phase from the data.

The training loop is written out: forward, loss, backward, clip, step.

    python examples/sine_prediction.py --epochs 20
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab as rl


def make_waves(n: int, length: int, noise: float, rng: np.random.Generator):
    """``x`` ``(n, length, 1)`` noisy samples and ``y`` ``(n, 1)``: the next clean value."""
    omega = rng.uniform(0.1, 0.5, size=(n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    wave = np.sin(omega * np.arange(length + 1) + phase)
    x = wave[:, :length] + noise * rng.standard_normal((n, length))
    return x[:, :, None].astype(np.float32), wave[:, length:].astype(np.float32)


def main(argv: list[str] | None = None) -> float:
    """Train and return the final validation MSE."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--length", type=int, default=40)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x, y = make_waves(args.samples, args.length, 0.05, rng)
    n_val = args.samples // 5
    x_train, y_train, x_val, y_val = x[n_val:], y[n_val:], x[:n_val], y[:n_val]

    model = rl.Sequential(
        rl.LSTM(1, args.hidden, batch_first=True, seed=args.seed),
        rl.LastStep(batch_first=True),  # (B, T, H) -> (B, H): the output after the last value
        rl.Linear(args.hidden, 1, seed=args.seed),
    )
    loss_fn = rl.MSELoss()
    opt = rl.Adam(model.parameters(), lr=args.lr)

    val_mse = float("nan")
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), args.batch_size):
            idx = order[start:start + args.batch_size]
            opt.zero_grad()
            pred = model(x_train[idx])                   # (B, 1)
            losses.append(loss_fn(pred, y_train[idx]))
            # gradients accumulate in p.grad; x is data, so no dL/dx is computed
            model.backward(loss_fn.backward(), input_grad=False)
            rl.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        with rl.no_grad():  # inference: the layers keep nothing for a backward
            val_mse = rl.MSELoss()(model(x_val), y_val)
        print(f"epoch {epoch + 1:3d}  train MSE {np.mean(losses):.5f}  val MSE {val_mse:.5f}")
    print(f"final validation MSE {val_mse:.5f} (always predicting 0 scores 0.5)")
    return val_mse


if __name__ == "__main__":
    main()
