import math

import pytest
import torch

from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.sampling import (
    SamplingConfig,
    StepModel,
    choose_tokens,
    next_token_probs,
    sample_text,
)
from rnngen.tokenizers import CharTokenizer, WordTokenizer

KNOWN = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]]))


def test_temperature_one_is_the_softmax():
    probs = next_token_probs(KNOWN, SamplingConfig())
    assert torch.allclose(probs, torch.tensor([[0.5, 0.25, 0.15, 0.1]]), atol=1e-6)


def test_temperature_sharpens_and_flattens():
    cold = next_token_probs(KNOWN, SamplingConfig(temperature=0.5))[0]
    hot = next_token_probs(KNOWN, SamplingConfig(temperature=2.0))[0]
    # p_i^(1/T) normalised: T=0.5 squares the probabilities.
    squares = torch.tensor([0.25, 0.0625, 0.0225, 0.01])
    assert torch.allclose(cold, squares / squares.sum(), atol=1e-6)
    assert hot[0] < 0.5 < cold[0]


def test_temperature_zero_is_argmax():
    probs = next_token_probs(KNOWN, SamplingConfig(temperature=0))
    assert probs.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    logits = torch.randn(50, 30)
    assert torch.equal(choose_tokens(logits, SamplingConfig(temperature=0)), logits.argmax(-1))


def test_top_k_keeps_the_k_most_likely():
    probs = next_token_probs(KNOWN, SamplingConfig(top_k=2))[0]
    assert torch.allclose(probs, torch.tensor([2 / 3, 1 / 3, 0.0, 0.0]), atol=1e-6)


def test_top_p_keeps_the_smallest_set_reaching_p():
    # 0.5 alone < 0.7; 0.5 + 0.25 = 0.75 >= 0.7 -> keep two.
    probs = next_token_probs(KNOWN, SamplingConfig(top_p=0.7))[0]
    assert torch.allclose(probs, torch.tensor([2 / 3, 1 / 3, 0.0, 0.0]), atol=1e-6)
    # A tiny p keeps only the most likely token.
    assert next_token_probs(KNOWN, SamplingConfig(top_p=0.01))[0].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_top_k_then_top_p_on_what_top_k_kept():
    # p = [0.5, 0.25, 0.15, 0.1]. top-k 3 keeps [0.5, 0.25, 0.15] / 0.9 = [5/9, 5/18, 1/6]; top-p 0.8 on
    # that: the mass before the third is 5/9 + 5/18 = 0.83 >= 0.8, so two stay: [2/3, 1/3, 0, 0]. (top-p
    # on the raw distribution would keep three: 0.5 + 0.25 = 0.75 < 0.8.)
    both = next_token_probs(KNOWN, SamplingConfig(top_k=3, top_p=0.8))[0]
    assert torch.allclose(both, torch.tensor([2 / 3, 1 / 3, 0.0, 0.0]), atol=1e-6)
    # Each filter alone would keep three tokens here; together only two.
    assert (next_token_probs(KNOWN, SamplingConfig(top_k=3))[0] > 0).sum() == 3
    assert (next_token_probs(KNOWN, SamplingConfig(top_p=0.8))[0] > 0).sum() == 3
    # The tighter filter wins: top-k 2 under a loose p, a tight p under a loose k.
    assert torch.allclose(
        next_token_probs(KNOWN, SamplingConfig(top_k=2, top_p=0.99))[0], torch.tensor([2 / 3, 1 / 3, 0.0, 0.0])
    )
    assert next_token_probs(KNOWN, SamplingConfig(top_k=3, top_p=0.3))[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    # Temperature comes first: at T=2 the shares are p^(1/2) renormalised, top-k 3 gives [0.444, 0.314, 0.243],
    # and the mass before the third is 0.757 < 0.8: the same k and p now keep three.
    root = torch.tensor([0.5, 0.25, 0.15, 0.1]).sqrt()
    top3 = root[:3] / root[:3].sum()
    hot = next_token_probs(KNOWN, SamplingConfig(temperature=2.0, top_k=3, top_p=0.8))[0]
    assert torch.allclose(hot, torch.cat([top3, torch.zeros(1)]), atol=1e-6)


def test_sampled_frequencies_follow_the_filtered_distribution():
    gen = torch.Generator().manual_seed(0)
    logits = KNOWN.expand(20000, 4)
    picks = choose_tokens(logits, SamplingConfig(top_k=3), gen)
    freq = torch.bincount(picks, minlength=4).float() / picks.numel()
    expected = torch.tensor([0.5, 0.25, 0.15, 0.0]) / 0.9
    assert torch.allclose(freq, expected, atol=0.015)


@pytest.mark.parametrize("bad", [SamplingConfig(temperature=-1), SamplingConfig(top_k=-1),
                                 SamplingConfig(top_p=0), SamplingConfig(top_p=1.5),
                                 SamplingConfig(temperature=float("nan"))])
def test_bad_sampling_options_are_refused(bad):
    with pytest.raises(RnngenError):
        bad.validate()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_step_path_matches_fused_path(cell, layers):
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=11, embed=6, hidden=9, layers=layers)).eval()
    ids = torch.randint(0, 11, (3, 12))
    with torch.no_grad():
        fused, fused_state = model(ids)
    stepper = StepModel(model)
    state = stepper.init_state(3)
    for t in range(12):
        logits, state = stepper.step(ids[:, t], state)
        assert torch.allclose(logits, fused[:, t], atol=1e-5), f"step {t}"
    for a, b in zip(state, fused_state):
        assert torch.allclose(a, b, atol=1e-5)


def _tiny(tok, cell="lstm"):
    torch.manual_seed(1)
    return RNNLanguageModel(ModelConfig(cell=cell, vocab_size=tok.vocab_size, embed=8, hidden=16, layers=1))


def test_seeded_samples_repeat_and_start_with_the_prime():
    tok = CharTokenizer.fit("hello world\n")
    model = _tiny(tok)
    a = sample_text(model, tok, prime="he", length=40, seed=7, num=3)
    b = sample_text(model, tok, prime="he", length=40, seed=7, num=3)
    c = sample_text(model, tok, prime="he", length=40, seed=8, num=3)
    assert a == b and a != c
    assert all(s.startswith("he") and len(s) == 42 for s in a)


def test_word_samples_are_spaced_like_text():
    tok = WordTokenizer.fit("the king speaks , and the queen listens .\n")
    text = sample_text(_tiny(tok), tok, prime="the king", length=20, seed=1)[0]
    assert text.startswith("the king")
    assert " ," not in text and " ." not in text


def test_prime_with_unknown_characters_is_refused():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(RnngenError, match="never seen"):
        sample_text(_tiny(tok), tok, prime="xyz", length=5)


def test_greedy_sample_follows_argmax_of_the_fused_model():
    tok = CharTokenizer.fit("abcdefgh\n")
    model = _tiny(tok, "gru").eval()
    text = sample_text(model, tok, prime="ab", length=6, config=SamplingConfig(temperature=0))[0]
    ids = torch.from_numpy(tok.encode(text).astype("int64")).unsqueeze(0)
    with torch.no_grad():
        logits, _ = model(ids)
    greedy = logits[0, 1:-1].argmax(-1)  # prediction after each token from the prime's last on
    assert greedy.tolist() == ids[0, 2:].tolist()
    assert math.isfinite(float(logits.sum()))


@pytest.mark.parametrize("config", [SamplingConfig(), SamplingConfig(temperature=0.5), SamplingConfig(top_k=2),
                                    SamplingConfig(top_p=0.7), SamplingConfig(temperature=1.5, top_k=3),
                                    SamplingConfig(top_k=3, top_p=0.8)])
def test_gumbel_choice_draws_from_the_filtered_distribution(config):
    """The fast sampler's Gumbel-max draws follow next_token_probs, filters included."""
    from rnngen.sampling import _gumbel, choose_with_noise

    rows = 40000
    logits = KNOWN.expand(rows, 4).contiguous()
    gumbel = _gumbel((rows, 4), torch.Generator().manual_seed(3))
    picks = choose_with_noise(logits, gumbel, config.temperature, config.top_k, config.top_p)
    freq = torch.bincount(picks, minlength=4).float() / rows
    assert torch.allclose(freq, next_token_probs(KNOWN, config)[0], atol=0.01)


def test_chunked_generation_matches_step_by_step_greedy():
    tok = CharTokenizer.fit("the quick brown fox jumps over the lazy dog\n")
    for cell, layers in (("lstm", 1), ("gru", 1), ("rnn", 1), ("lstm", 3), ("gru", 2), ("rnn", 2)):
        torch.manual_seed(layers)
        model = RNNLanguageModel(ModelConfig(cell=cell, vocab_size=tok.vocab_size, embed=8, hidden=16,
                                             layers=layers)).eval()
        fast = sample_text(model, tok, prime="the", length=300, config=SamplingConfig(temperature=0))[0]
        stepper = StepModel(model)
        from rnngen.sampling import prime_state

        logits, state = prime_state(model, torch.from_numpy(tok.encode("the").astype("int64")), 1)
        ids = []
        for _ in range(300):
            new = logits.argmax(-1)
            ids.append(int(new))
            logits, state = stepper.step(new, state)
        assert fast == "the" + tok.decode(ids), cell


@pytest.mark.parametrize("config", [SamplingConfig(temperature=0.7), SamplingConfig(temperature=1.3, top_k=3),
                                    SamplingConfig(top_p=0.8)])
def test_generated_tokens_follow_the_models_distribution(config):
    """First tokens of 20,000 one-batch samples match the filtered next-token distribution."""
    from rnngen.sampling import generate, prime_state

    tok = CharTokenizer.fit("abcdefgh")
    model = _tiny(tok, "lstm").eval()
    with torch.no_grad():
        model.head.bias.copy_(torch.linspace(-1.0, 1.5, tok.vocab_size))  # a spread-out distribution
    prime = torch.from_numpy(tok.encode("abc").astype("int64"))
    logits, _ = prime_state(model, prime, 1)
    expected = next_token_probs(logits, config)[0]
    first = next(generate(model, tok, prime="abc", length=1, config=config, seed=11, num=20000))
    freq = torch.bincount(first, minlength=tok.vocab_size).float() / first.numel()
    assert torch.allclose(freq, expected, atol=0.012)
