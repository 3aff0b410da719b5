"""The version, in a module of its own: parts that stamp it need not import the whole API."""

__version__ = "0.1.0"
