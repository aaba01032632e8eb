"""Special functions with accurate parameter derivatives."""

from ml_networks_jax.special.gamma import gammainc, gammainc_log, gammaincc, log_gamma_density

__all__ = ["gammainc", "gammainc_log", "gammaincc", "log_gamma_density"]
