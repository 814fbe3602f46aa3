"""Write a torch LSTM's state dict with ``safetensors.torch.save_file`` plus its outputs.

Run with the torch extra: ``python tests/make_golden_weights.py``. The files let the suite
check that weights saved from PyTorch load into rnnlab without torch installed.
"""

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

OUT = Path(__file__).parent / "golden_weights"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    torch.manual_seed(7)
    lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    save_file({k: v.contiguous() for k, v in lstm.state_dict().items()},
              str(OUT / "torch_lstm.safetensors"))
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        out, (h, c) = lstm(x)
    np.savez(OUT / "torch_lstm_io.npz", x=x.numpy(), out=out.numpy(), h_n=h.numpy(),
             c_n=c.numpy())


if __name__ == "__main__":
    main()
