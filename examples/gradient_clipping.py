"""Exploding gradients in a deep vanilla RNN, and what ``clip_grad_norm_`` does about them.

The task: the first input of a 100-step sequence is a sign, +1 or -1, the rest is noise;
the class is that sign, so the loss at the last step depends on the first step. The model
is a 5-layer tanh RNN whose recurrent weights ``weight_hh_l*`` start ``--init-scale`` times
larger than the default uniform(±1/sqrt(H)).

Part 1 runs one forward and backward and prints ``||dL/dh_t||`` of the first layer at a
few timesteps, read from ``layer.trace()``. Backpropagation multiplies by the recurrent
Jacobian once per step: with the default initialisation the product shrinks towards 0 as t
goes back to 0 (vanishing), with large recurrent weights it grows (exploding).

Part 2 trains two identical copies with plain SGD, one without clipping and one with
``rl.clip_grad_norm_(params, 1.0)``, and prints each step's gradient norm before clipping
and the norm of all weights. Without clipping a single exploded gradient moves the weights
by ``lr`` times a huge number and wrecks the network; with clipping every update is at most
``lr * max_norm`` long, whatever the gradient did. Clipping does not make this network
learn the task in a few steps: the signal from step 0 still fades through 100 saturating
tanh steps. Gated cells are the cure for that (try the ``gradflow`` task with an LSTM).

    python examples/gradient_clipping.py --init-scale 3 --steps 15
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import rnnlab as rl


def make_signs(n: int, length: int, rng: np.random.Generator):
    """``x`` ``(n, length, 1)``: a sign then noise; ``y`` ``(n,)``: 1 for +1, 0 for -1."""
    sign = rng.integers(0, 2, size=n)
    x = 0.5 * rng.standard_normal((n, length, 1))
    x[:, 0, 0] = 2.0 * sign - 1.0
    return x.astype(np.float32), sign


def build(args, init_scale: float) -> tuple[rl.Sequential, rl.RNN]:
    rnn = rl.RNN(1, args.hidden, num_layers=args.layers, batch_first=True, seed=args.seed)
    for name, p in rnn.named_parameters():
        if name.startswith("weight_hh"):
            p.data *= init_scale
    model = rl.Sequential(rnn, rl.LastStep(batch_first=True),
                          rl.Linear(args.hidden, 2, seed=args.seed))
    return model, rnn


def norm(arrays) -> float:
    return math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Return the largest gradient norm applied without clipping and with it, the final
    weight norms of both runs and ``||dL/dh_0|| / ||dL/dh_T-1||`` of the first layer."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--init-scale", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--max-norm", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x, y = make_signs(args.batch_size * args.steps, args.length, rng)
    loss_fn = rl.CrossEntropyLoss()

    print("Part 1: ||dL/dh_t|| of layer 0, mean over the batch")
    xb, yb = x[:args.batch_size], y[:args.batch_size]
    T = args.length
    shown = sorted({0, T // 4, T // 2, 3 * T // 4, T - 1})
    print("  init scale " + "".join(f"{f't={t}':>11s}" for t in shown))
    ratio = math.nan
    for scale in (1.0, args.init_scale):
        model, rnn = build(args, scale)
        loss_fn(model(xb), yb)
        model.backward(loss_fn.backward(), input_grad=False)
        grad_h = rnn.trace(layer=0)["grad_h_norm"].mean(axis=1)   # (T,)
        print(f"  {scale:10.1f} " + "".join(f"{grad_h[t]:11.3g}" for t in shown))
        ratio = float(grad_h[0] / grad_h[-1])
    print(f"  with init scale {args.init_scale}, ||dL/dh_0|| is {ratio:.3g} times "
          f"||dL/dh_{T - 1}||")

    print(f"\nPart 2: SGD, lr {args.lr}, without and with clip_grad_norm_(max_norm="
          f"{args.max_norm})")
    results = {"grad_h_ratio": ratio}
    for label, clip in (("unclipped", None), ("clipped", args.max_norm)):
        model, _ = build(args, args.init_scale)
        params = model.parameters()
        opt = rl.SGD(params, lr=args.lr)
        applied = []
        print(f"  {label}:")
        for step in range(args.steps):
            sl = slice(step * args.batch_size, (step + 1) * args.batch_size)
            opt.zero_grad()
            loss = loss_fn(model(x[sl]), y[sl])
            model.backward(loss_fn.backward(), input_grad=False)
            if clip is None:
                before = norm(p.grad for p in params)
            else:
                before = rl.clip_grad_norm_(params, clip)  # returns the norm before clipping
            if not math.isfinite(before):
                print(f"    step {step + 1}: the gradient overflowed; training cannot go on")
                break
            applied.append(norm(p.grad for p in params))
            opt.step()
            print(f"    step {step + 1:3d}  loss {loss:8.4f}  gradient norm {before:10.3g}  "
                  f"applied {applied[-1]:10.3g}  weight norm "
                  f"{norm(p.data for p in params):10.3g}")
        results[f"grad_norm_{label}"] = max(applied)
        results[f"weight_norm_{label}"] = norm(p.data for p in params)
    print(f"largest applied gradient norm: unclipped {results['grad_norm_unclipped']:.3g}, "
          f"clipped {results['grad_norm_clipped']:.3g}; final weight norm: unclipped "
          f"{results['weight_norm_unclipped']:.3g}, clipped {results['weight_norm_clipped']:.3g}")
    return results


if __name__ == "__main__":
    main()
