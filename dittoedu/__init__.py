"""dittoedu: see how inference-time optimization (DITTO, DITTO-2) steers a small music diffusion model."""

__version__ = "0.1.0"
