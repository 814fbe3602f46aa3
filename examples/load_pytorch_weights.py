"""Load a PyTorch ``nn.LSTM``'s weights into ``rl.LSTM`` and get the same numbers.

rnnlab layers use torch's parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``...),
shapes, gate order (i, f, g, o) and equations, so a state dict saved from PyTorch with
``safetensors.torch.save_file`` loads with ``rl.load_weights`` and nothing else.

With torch installed the script builds a bidirectional 2-layer ``nn.LSTM``, saves its state
dict, loads it into ``rl.LSTM`` with the same constructor arguments and compares, on a
padded batch with different lengths (torch: ``pack_padded_sequence``; rnnlab: ``lengths=``),
the outputs, final states and the gradients of every weight. Without torch (rnnlab never
needs it) it uses the file and the input/output pair the test suite keeps in
``tests/golden_weights/``, written by ``tests/make_golden_weights.py`` with real PyTorch.

    python examples/load_pytorch_weights.py            # with torch, if importable
    python examples/load_pytorch_weights.py --no-torch # the committed files
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import rnnlab as rl

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden_weights"


def max_diff(name: str, ours: np.ndarray, theirs: np.ndarray) -> float:
    d = float(np.max(np.abs(ours - theirs)))
    print(f"  {name:24s} max |rnnlab - torch| = {d:.2e}")
    return d


def compare_with_torch(args) -> float:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    net = torch.nn.LSTM(args.input, args.hidden, num_layers=args.layers, bidirectional=True,
                        batch_first=True)
    rng = np.random.default_rng(args.seed)
    B, T = 4, args.length
    x = rng.standard_normal((B, T, args.input)).astype(np.float32)
    lengths = np.array([T, T - 1, T // 2, 1])
    dout = rng.standard_normal((B, T, 2 * args.hidden)).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lstm.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
        lstm = rl.LSTM(args.input, args.hidden, num_layers=args.layers, bidirectional=True,
                       batch_first=True)
        rl.load_weights(lstm, path)
    print(f"loaded {len(lstm.state_dict())} tensors saved from torch.nn.LSTM")

    # torch: pack, run, unpad; d(sum(out * dout)) gives every weight's gradient
    xt = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                     batch_first=True, enforce_sorted=False)
    out_p, (h_t, c_t) = net(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=True, total_length=T)
    (out_t * torch.tensor(dout)).sum().backward()

    # rnnlab: the same batch with lengths, the same output gradient
    out, (h_n, c_n) = lstm(x, lengths=lengths)
    dx, _ = lstm.backward(dout)

    diffs = [max_diff("output", out, out_t.detach().numpy()),
             max_diff("h_n", h_n, h_t.detach().numpy()),
             max_diff("c_n", c_n, c_t.detach().numpy()),
             max_diff("dL/dx", dx, xt.grad.numpy())]
    for name, p in lstm.named_parameters():
        diffs.append(max_diff(f"dL/d{name}", p.grad, getattr(net, name).grad.numpy()))
    return max(diffs)


def compare_with_files() -> float:
    io = np.load(GOLDEN / "torch_lstm_io.npz")
    x = io["x"]
    lstm = rl.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    rl.load_weights(lstm, GOLDEN / "torch_lstm.safetensors")
    print(f"loaded {GOLDEN / 'torch_lstm.safetensors'} into {lstm!r}")
    out, (h_n, c_n) = lstm(x)
    return max(max_diff("output", out, io["out"]), max_diff("h_n", h_n, io["h_n"]),
               max_diff("c_n", c_n, io["c_n"]))


def main(argv: list[str] | None = None) -> float:
    """Return the largest absolute difference between rnnlab's and torch's numbers."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-torch", action="store_true",
                   help="use the committed files even if torch is installed")
    p.add_argument("--input", type=int, default=3)
    p.add_argument("--hidden", type=int, default=8)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--length", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    have_torch = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            have_torch = True
        except ImportError:
            print("torch is not installed (rnnlab does not need it): comparing with the "
                  "files tests/make_golden_weights.py wrote with real PyTorch")
    worst = compare_with_torch(args) if have_torch else compare_with_files()
    print(f"largest difference {worst:.2e} (float32 keeps about 7 significant digits)")
    return worst


if __name__ == "__main__":
    main()
