"""rnngen: character- and word-level RNN, LSTM and GRU text generators you can look inside."""

__version__ = "0.1.0"
