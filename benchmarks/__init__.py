"""Side-by-side benchmarks of ml_networks_jax against its peers (``make bench``)."""
