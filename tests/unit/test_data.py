import numpy as np
import pytest

from rnngen.data import StreamBatches, eval_windows, plan_layout, split_text
from rnngen.errors import RnngenError


def test_split_is_last_fraction_and_cuts_at_whitespace():
    text = "aaaa bbbb cccc dddd eeee"
    train, val = split_text(text, 0.3)
    assert train + val == text
    assert val.startswith(" ") and len(val) <= 0.3 * len(text) + 1


def test_split_matches_nanogpt_for_characters():
    text = "x" * 95 + " " + "y" * 4
    train, val = split_text(text, 0.1)
    assert len(train) == 95 + 0  # the cut moves to the space at index 95
    assert train + val == text


def test_zero_val_frac_keeps_everything_for_training():
    assert split_text("abc", 0.0) == ("abc", "")
    with pytest.raises(RnngenError):
        split_text("abc", 1.0)


def test_windows_carry_on_where_the_last_one_stopped():
    ids = np.arange(1000, dtype=np.uint16)
    layout = plan_layout(ids.size, batch_size=4, seq_len=10)
    batches = StreamBatches(ids, layout)
    x0, y0 = batches.window(0)
    x1, _ = batches.window(1)
    assert x0.shape == (4, 10)
    assert (y0[:, :-1] == x0[:, 1:]).all()  # targets are the next tokens
    assert (x1[:, 0] == y0[:, -1]).all()  # window 1 starts where window 0's targets end
    assert (x0[1, 0] - x0[0, 0]).item() == layout.stream_len  # streams are contiguous slices


def test_tiny_corpus_shrinks_batch_then_window():
    layout = plan_layout(20, batch_size=64, seq_len=128)
    assert layout.batch_size == 1 and layout.seq_len == 19
    with pytest.raises(RnngenError, match="at least 2"):
        plan_layout(1, 4, 4)


def test_eval_windows_predict_every_token_once():
    ids = np.arange(1, 538, dtype=np.uint16)
    targets = []
    for x, y, fresh in eval_windows(ids, batch_size=5, seq_len=7):
        assert x.shape == y.shape
        assert ((y - x) == 1).all()
        targets.extend(y.flatten().tolist())
    assert sorted(targets) == list(range(2, 538))
