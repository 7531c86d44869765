import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnngen.errors import RnngenError
from rnngen.tokenizers import (
    UNK,
    CharTokenizer,
    WordTokenizer,
    build_tokenizer,
    id_dtype,
    tokenizer_from_json,
)


def test_char_round_trip_keeps_every_code_point():
    text = "Héllo, wörld!\n床前明月光 🙂\ttab"
    tok = CharTokenizer.fit(text)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.vocab_size == len(set(text))
    assert ids.dtype == np.uint8  # one byte per character for small alphabets


def test_char_vocab_is_sorted_and_deterministic():
    assert CharTokenizer.fit("cab").vocab == ["a", "b", "c"]
    assert CharTokenizer.fit("cab").vocab == CharTokenizer.fit("bca").vocab


def test_char_unknown_character_is_a_clear_error():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(RnngenError, match="never seen"):
        tok.encode("abz")


def test_word_tokens_are_words_punctuation_and_line_breaks():
    tok = WordTokenizer.fit("x")
    assert tok.split("Don't stop, Romeo!\nNo.") == ["Don't", "stop", ",", "Romeo", "!", "\n", "No", "."]


def test_word_decode_reads_like_the_corpus():
    text = "Speak, speak.\nYou are all resolved rather to die than to famish?\n"
    tok = WordTokenizer.fit(text)
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["the", "king", "don't", ",", ".", "!", "?", "\n", "(", ")", "42", ":"]), max_size=40))
def test_word_decode_then_encode_keeps_the_tokens(words):
    text = " ".join(words)
    tok = WordTokenizer.fit(text)
    ids = tok.encode(text)
    assert tok.encode(tok.decode(ids)).tolist() == ids.tolist()


def test_word_vocab_cap_maps_rare_words_to_unk():
    text = "a a a a b b b c c d"
    tok = WordTokenizer.fit(text, max_vocab=3)
    assert tok.vocab == [UNK, "a", "b"]
    assert tok.decode(tok.encode("a c d b")) == f"a {UNK} {UNK} b"


def test_json_round_trip_rebuilds_the_same_tokenizer():
    for tok in (CharTokenizer.fit("hello 世界"), WordTokenizer.fit("hello there , world")):
        again = tokenizer_from_json(tok.to_json())
        assert again.level == tok.level and again.vocab == tok.vocab


@pytest.mark.parametrize("doc", [None, {}, {"level": "char", "vocab": []}, {"level": "char", "vocab": ["ab"]},
                                 {"level": "x", "vocab": ["a"]}, {"level": "word", "vocab": ["a", "a"]},
                                 {"level": "char", "vocab": [1, 2]}])
def test_malformed_tokenizer_json_is_refused(doc):
    with pytest.raises(RnngenError):
        tokenizer_from_json(doc)


def test_build_tokenizer_checks_options():
    with pytest.raises(RnngenError, match="word only"):
        build_tokenizer("char", "abc", vocab_size=10)
    with pytest.raises(RnngenError, match="unknown level"):
        build_tokenizer("bytes", "abc")


def test_id_dtype_is_compact():
    assert id_dtype(100) == np.uint8 and id_dtype(1000) == np.uint16 and id_dtype(70000) == np.uint32


def test_chunked_encoding_equals_whole_text_encoding(monkeypatch):
    import rnngen.tokenizers as t

    text = ("Once upon a time, 床前明月光 there was a king.\n" * 50)
    whole_char = CharTokenizer.fit(text).encode(text)
    whole_word = WordTokenizer.fit(text).encode(text)
    monkeypatch.setattr(t, "CHUNK_CHARS", 7)  # force many tiny chunks
    assert CharTokenizer.fit(text).encode(text).tolist() == whole_char.tolist()
    tok, (ids,) = WordTokenizer.fit_encode([t.text_chunks(text)])
    assert ids.tolist() == whole_word.tolist() == tok.encode(text).tolist()


def test_fit_encode_orders_vocab_by_frequency_and_caps():
    tok, (a, b) = WordTokenizer.fit_encode([["b b a"], ["c b a a"]], max_vocab=3)
    assert tok.vocab == [UNK, "a", "b"]  # a and b both 3 times: alphabetical tie-break
    assert tok.decode(a) == "b b a" and tok.decode(b) == f"{UNK} b a a"
