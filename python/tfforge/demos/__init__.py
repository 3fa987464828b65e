"""Steps of `tfforge demo`, one module per capability (see tfforge/cli/demo.py)."""
