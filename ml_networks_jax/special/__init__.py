"""Special functions with accurate parameter derivatives."""

from ml_networks_jax.special.gamma import (
    gammainc,
    gammainc_log,
    gammainc_log_shape_tangent,
    gammaincc,
    log_exp_gamma_density,
    log_gamma_density,
)

__all__ = [
    "gammainc",
    "gammainc_log",
    "gammainc_log_shape_tangent",
    "gammaincc",
    "log_exp_gamma_density",
    "log_gamma_density",
]
