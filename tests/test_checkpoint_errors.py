"""The checkpoint error formatter: whole sentences, no colour codes, no PyTorch advice that does not apply."""

from __future__ import annotations

import pickle

from edgesnn.checkpoint_errors import describe_load_failure, first_sentence, precheck


def test_colour_codes_are_dropped_and_the_first_sentence_is_kept_whole():
    long_word_sentence = "failed reading " + "x" * 300 + " at the end"
    exc = RuntimeError(f"\x1b[31m{long_word_sentence}.\x1b[0m Second sentence.\nmore lines")
    text = describe_load_failure(exc)
    assert "\x1b" not in text and long_word_sentence in text and "Second" not in text


def test_torch_weights_only_advice_is_replaced():
    exc = pickle.UnpicklingError(
        "Weights only load failed. This file can still be loaded, to do so you have two options, \x1b[1mdo "
        "those steps only if you trust the source of the checkpoint\x1b[0m.\n\t(1) Re-running `torch.load` "
        "with `weights_only` set to `False` will likely succeed.\n\tWeightsUnpickler error: Unsupported "
        "global: GLOBAL x.Y was not an allowed global by default. Please use `torch.serialization...`"
    )
    text = describe_load_failure(exc)
    assert "weights_only" not in text and "torch.load" not in text and "\x1b" not in text
    assert "Unsupported global: GLOBAL x.Y was not an allowed global by default" in text


def test_an_empty_message_is_not_an_index_error():
    assert first_sentence("") == "" and "no detail given" in describe_load_failure(EOFError())


def test_precheck_names_each_kind_of_wrong_file(tmp_path):
    cases = {b"": "empty (0 bytes)", b"ESNN\x01\x00": "exported .esnn model", b"{}": "not a PyTorch file",
             b"PK\x03\x04trunc": "damaged or cut short"}  # fmt: skip
    for i, (data, expected) in enumerate(cases.items()):
        path = tmp_path / f"{i}.pt"
        path.write_bytes(data)
        assert expected in (precheck(path) or "")
    assert precheck(tmp_path / "missing.pt") == "no such checkpoint file"
    assert "is a folder" in (precheck(tmp_path) or "")
