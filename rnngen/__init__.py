"""rnngen: character- and word-level RNN, LSTM and GRU text generators you can look inside."""

__version__ = "0.1.0"

__all__ = ["load", "train", "Model"]


def __getattr__(name: str):
    # Lazy: ``import rnngen`` stays light (no torch) until the API is used.
    if name in __all__:
        from rnngen import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnngen' has no attribute {name!r}")
