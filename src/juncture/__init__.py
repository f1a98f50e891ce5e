"""juncture: one shared picture for Operations and Customer-Experience teams."""

__version__ = "0.1.0"
