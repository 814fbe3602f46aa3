"""rnnlab: recurrent networks on the CPU."""
