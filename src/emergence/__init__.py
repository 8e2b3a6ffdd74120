"""emergence: a loss-versus-emergence scaling study workflow (JAX + Snakemake)."""

__version__ = "0.1.0"
