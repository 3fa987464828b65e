"""Benchmark harness: timing (median of repeated calls), the machine's measured memory bandwidth
(the roofline), and reports as a table, JSON and a PNG chart. ``tfforge.bench.ops`` compares tfforge's
fused ops with TensorFlow's built-in compositions (plain tf.function and XLA)."""
