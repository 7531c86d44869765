"""Hypothesis strategies for a forger's checkpoint metadata, and the code that applies them.

A mutation is a plain tuple, so a failing example prints readably:

    ("raw", place, text)        unparsed JSON text (deep nesting, huge integers) put at
                                ``place``: the safetensors header, a whole metadata document,
                                or one field inside one
    ("hf", path, value)         a field of a BPE tokenizer's Hugging Face document
    ("train", path, value)      a field of ``rnngen.train`` (progress, or ``config.<name>``)

Every edit is resealed (the checksum recomputed), so it reaches the validators behind
the checksum, as a deliberate forger's would.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

from helpers.checkpoints import join, reseal, split

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=12,
)

# ---- unparsed JSON: deep nesting and huge integers ---------------------------------------

RAW_PLACES = [
    "header",
    "header.offsets",
    "rnngen.format",
    "rnngen.model",
    "rnngen.tokenizer",
    "rnngen.train",
    "rnngen.checksum",
    "model.hidden",
    "train.step",
    "train.plan",
    "train.history",
    "train.config",
]


@st.composite
def deep_json(draw) -> str:
    depth = draw(st.sampled_from([33, 64, 900, 1100, 5000]) | st.integers(33, 3000))
    opener, closer, inner = draw(st.sampled_from([("[", "]", "1"), ('{"a":', "}", "1"), ('[{"a":', "}]", "[]")]))
    return opener * depth + inner + closer * depth


@st.composite
def huge_integer(draw) -> str:
    digits = draw(st.sampled_from([21, 4301, 5000]) | st.integers(21, 6000))
    return draw(st.sampled_from(["", "-"])) + "9" * digits


raw_mutations = st.tuples(st.just("raw"), st.sampled_from(RAW_PLACES), deep_json() | huge_integer())

# ---- a hostile Hugging Face tokenizer document ----------------------------------------

PADDING = {
    "strategy": {"Fixed": 300000},
    "direction": "Right",
    "pad_to_multiple_of": None,
    "pad_id": 0,
    "pad_type_id": 0,
    "pad_token": "!",
}
TRUNCATION = {"direction": "Right", "max_length": 1, "strategy": "LongestFirst", "stride": 0}
ADDED_TOKEN = {
    "id": 0,
    "content": "!",
    "single_word": False,
    "lstrip": False,
    "rstrip": False,
    "normalized": False,
    "special": True,
}
KNOWN_HOSTILE = {
    ("padding",): PADDING,
    ("truncation",): TRUNCATION,
    ("normalizer",): {"type": "Lowercase"},
    ("post_processor",): {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    ("added_tokens",): [ADDED_TOKEN],
    ("pre_tokenizer",): {"type": "Split", "pattern": {"Regex": "."}, "behavior": "Isolated", "invert": False},
    ("pre_tokenizer", "add_prefix_space"): True,
    ("model", "dropout"): 0.5,
    ("model", "type"): "WordPiece",
    ("model", "byte_fallback"): True,
    ("model", "ignore_merges"): True,
}
HF_PATHS = sorted(KNOWN_HOSTILE) + [
    ("version",),
    ("decoder",),
    ("model",),
    ("model", "vocab"),
    ("model", "merges"),
    ("model", "unk_token"),
    ("model", "continuing_subword_prefix"),
    ("model", "end_of_word_suffix"),
    ("model", "fuse_unk"),
    ("pre_tokenizer", "use_regex"),
    ("pre_tokenizer", "trim_offsets"),
    ("surprise",),
    ("model", "surprise"),
]


@st.composite
def hf_mutations(draw) -> tuple:
    path = draw(st.sampled_from(HF_PATHS))
    if path in KNOWN_HOSTILE and draw(st.booleans()):
        return ("hf", path, KNOWN_HOSTILE[path])
    return ("hf", path, draw(json_values))


# ---- ill-typed training metadata ---------------------------------------------------------

TRAIN_FIELDS = [
    "step",
    "optim_step",
    "tokens_seen",
    "elapsed_s",
    "train_tokens",
    "val_tokens",
    "best_val_loss",
    "best_step",
    "lr_scale",
    "history",
    "config",
    "plan",
]
CONFIG_FIELDS = [
    "level",
    "cell",
    "layers",
    "hidden",
    "embed",
    "dropout",
    "tie",
    "seq_len",
    "batch_size",
    "lr",
    "schedule",
    "min_lr_frac",
    "warmup_steps",
    "weight_decay",
    "clip",
    "steps",
    "epochs",
    "time_s",
    "val_frac",
    "eval_every",
    "eval_tokens",
    "seed",
    "device",
    "threads",
    "on_nan",
    "precision",
    "val_file",
]
ODD_NUMBERS = st.sampled_from([-1, 0, -1.0, 0.0, 1e300, -1e300, float("nan"), float("inf"), 2**63, 2**64, True])


@st.composite
def train_mutations(draw) -> tuple:
    if draw(st.booleans()):
        path: tuple = ("config", draw(st.sampled_from(CONFIG_FIELDS)))
    else:
        path = (draw(st.sampled_from(TRAIN_FIELDS)),)
    if path == ("history",) and draw(st.booleans()):
        row = draw(st.dictionaries(st.sampled_from(["step", "train_loss", "val_loss", "val_bpc"]), json_values))
        return ("train", path, [{"step": 1, "train_loss": 3.0}, row])
    return ("train", path, draw(ODD_NUMBERS | json_values))


metadata_mutations = raw_mutations | hf_mutations() | train_mutations()


# ---- applying a mutation ---------------------------------------------------------------------

_RAW = "__rnngen_raw_json__"


def _set(doc: dict, path: tuple, value: object) -> None:
    for key in path[:-1]:
        if not isinstance(doc.get(key), dict):
            doc[key] = {}
        doc = doc[key]
    doc[path[-1]] = value


def apply(data: bytes, mutation: tuple) -> bytes:
    """``data`` (a checkpoint file) with ``mutation`` applied and the checksum recomputed."""
    kind, place, value = mutation
    header, payload = split(data)
    meta = header["__metadata__"]
    if kind == "raw" and place.startswith("header"):
        if place == "header.offsets":
            first = sorted(k for k in header if k != "__metadata__")[0]
            header[first]["data_offsets"] = [0, _RAW]
        else:
            header["extra"] = _RAW
        raw = json.dumps(reseal(header, data)).replace(f'"{_RAW}"', value)
        return join(raw.encode(), payload)
    if kind == "raw" and place.startswith("rnngen."):
        meta[place] = value
    else:
        key, path = {
            "raw": lambda: (
                {"model": "rnngen.model", "train": "rnngen.train"}[place.split(".")[0]],
                place.split(".")[1:],
            ),
            "hf": lambda: ("rnngen.tokenizer", ["hf", *place]),
            "train": lambda: ("rnngen.train", list(place)),
        }[kind]()
        doc = json.loads(meta[key])
        _set(doc, tuple(path), _RAW if kind == "raw" else value)
        text = json.dumps(doc, allow_nan=True, ensure_ascii=False)
        meta[key] = text.replace(f'"{_RAW}"', value) if kind == "raw" else text
    return join(reseal(header, data), payload)
