"""One ranking rule for the AI's conditions (pages, exports and analysis used three before)."""

from inference.core.ranking import all_ranked, by_probability, ranked_codes


def test_falling_probability_with_ties_by_code():
    assert by_probability({"b": 0.3, "a": 0.3, "c": 0.4}) == ["c", "a", "b"]


def test_stored_top_codes_win_and_all_ranked_appends_the_rest():
    probabilities = {"a": 0.1, "b": 0.5, "c": 0.4}
    assert ranked_codes(probabilities, ["c", "a"]) == ["c", "a"]
    assert ranked_codes(probabilities, []) == ["b", "c", "a"]
    assert ranked_codes(None, None) == []
    assert all_ranked(probabilities, ["a"]) == ["a", "b", "c"]
