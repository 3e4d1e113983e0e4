"""The ``pmi`` reward on the real default Gemma-3-270M and on a tiny user model folder with a
chat template, offline: the score equals two naive full-logit passes, and failures are typed."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from test_likelihood import gemma, naive_mean, tiny_folder  # noqa: E402,F401 - fixtures shared with the likelihood tests

from assay.registry import reward_class  # noqa: E402
from assay.rewards.models.likelihood import context_ids, join_ids  # noqa: E402
from assay.rewards.models.pmi import PromptResponsePMI  # noqa: E402
from assay.types import Sample  # noqa: E402

FRANCE = "What is the capital of France?"


@pytest.fixture(scope="module")
def pmi(gemma):  # noqa: F811 - the fixture imported above
    return PromptResponsePMI()


def test_registry_names_the_class():
    assert reward_class("pmi") is PromptResponsePMI


def test_the_answer_to_this_prompt_gains_more_than_an_answer_to_another(pmi):
    on, off = pmi.score([Sample(prompt=FRANCE, response="The capital of France is Paris."),
                         Sample(prompt=FRANCE, response="Photosynthesis turns light into chemical energy in plants.")])
    assert on.ok and off.ok and on.score > off.score
    assert on.score > 0 and "with the prompt" in on.rationale and "without" in on.rationale
    assert on.details["conditional_mean_logprob"] - on.details["unconditional_mean_logprob"] == pytest.approx(on.score)


def test_score_is_the_difference_of_two_naive_passes(pmi):
    model, tokenizer = pmi.lm()
    samples = [Sample(prompt=FRANCE, response="Paris."), Sample(prompt="Name a colour.  \n", response="\nBlue, like the sky.")]
    for sample in samples:
        ids = list(tokenizer(sample.response_text, add_special_tokens=False)["input_ids"])
        given = join_ids(tokenizer, context_ids(tokenizer, pmi.context(tokenizer, sample.prompt)), ids, 1024)
        alone = join_ids(tokenizer, context_ids(tokenizer, pmi.context(tokenizer, "")), ids, 1024)
        expected = naive_mean(model, given) - naive_mean(model, alone)
        assert pmi.score([sample])[0].score == pytest.approx(expected, abs=1e-3)
    total = PromptResponsePMI(reduction="sum").score(samples[:1])[0]
    assert total.score == pytest.approx(pmi.score(samples[:1])[0].score * total.details["tokens"], rel=1e-4)


def test_failures_are_typed_and_leave_the_rest_scored(pmi):
    judgments = pmi.score([Sample(prompt=FRANCE, response="Paris."), Sample(prompt="  ", response="Paris."),
                           Sample(prompt=FRANCE, response=""), Sample(prompt=FRANCE, response=123)])
    assert [j.ok for j in judgments] == [True, False, False, False]
    assert [j.failure.kind for j in judgments[1:]] == ["input", "input", "input"]
    assert "prompt is empty" in judgments[1].rationale


def test_only_the_first_tokens_are_scored_and_the_cut_is_said(pmi):
    long = "Paris is the capital of France. " * 20
    judgment = PromptResponsePMI(max_response_tokens=5).score([Sample(prompt=FRANCE, response=long)])[0]
    assert judgment.ok and judgment.details["tokens"] == 5 and judgment.meta["truncated"]
    assert "the first 5 of" in judgment.rationale
    cut = PromptResponsePMI(max_length=16).score([Sample(prompt="Count: " + " ".join(map(str, range(40))), response="Forty-one.")])[0]
    assert cut.ok and cut.meta["dropped_context_tokens"] > 0 and "max_length=16" in cut.rationale


def test_options_are_checked():
    with pytest.raises(ValueError, match="prompt"):
        PromptResponsePMI(prompt_template="Question: ... Answer:")
    with pytest.raises(ValueError):
        PromptResponsePMI(reduction="prob")


def test_a_user_folder_with_a_chat_template_uses_it(tiny_folder):  # noqa: F811
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_folder))
    tokenizer.chat_template = "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
    tokenizer.save_pretrained(str(tiny_folder))
    reward = PromptResponsePMI(model=str(tiny_folder))
    _, loaded = reward.lm()
    assert reward.context(loaded, "Hi?").endswith("<start_of_turn>user\nHi?<end_of_turn>\n<start_of_turn>model")
    assert reward.context(loaded, "").endswith("<start_of_turn>user\n<end_of_turn>\n<start_of_turn>model")
    text, chat = reward.score([Sample(prompt="Hi?", response="Hello."), Sample(prompt=[{"role": "user", "content": "Hi?"}], response="Hello.")])
    assert text.ok and chat.ok and text.score == pytest.approx(chat.score, abs=1e-5)


def test_a_missing_model_folder_is_a_backend_failure_and_input_failures_stay(tmp_path):
    judgments = PromptResponsePMI(model=str(tmp_path / "no-such-model")).score([Sample(prompt=FRANCE, response="Paris."), Sample(prompt="", response="Paris.")])
    assert [j.failure.kind for j in judgments] == ["backend", "input"]
    assert "no-such-model" in judgments[0].rationale
