"""The lme4-syntax formula parser: R's term expansion and ordering, random intercepts, errors."""

import pytest

from analysis.formula import RandomTerm, parse_formula


def test_primary_model_of_the_design():
    parsed = parse_formula("correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)")
    assert parsed.response == "correct_top1"
    assert parsed.intercept
    assert parsed.fixed_terms == (("arm",),)
    assert [t.group for t in parsed.random_terms] == ["reader", "case", "reader:arm", "case:arm"]
    assert parsed.random_terms[2] == RandomTerm(group="reader:arm", factors=("reader", "arm"))
    assert parsed.variables == ("correct_top1", "arm", "reader", "case")


def test_terms_are_ordered_by_interaction_order_like_r():
    parsed = parse_formula("y ~ arm:reader_group + arm + reader_group + covariate + (1|reader)")
    assert parsed.fixed_terms == (("arm",), ("reader_group",), ("covariate",), ("arm", "reader_group"))


def test_star_expands_and_duplicates_collapse():
    parsed = parse_formula("y ~ a*b + b:a + a + (1|g)")
    assert parsed.fixed_terms == (("a",), ("b",), ("a", "b"))
    three = parse_formula("y ~ a*b*c + (1|g)")
    assert three.fixed_terms == (
        ("a",),
        ("b",),
        ("c",),
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
        ("a", "b", "c"),
    )


def test_colon_binds_tighter_than_star():
    assert parse_formula("y ~ a:b*c + (1|g)").fixed_terms == (("c",), ("a", "b"), ("a", "b", "c"))


@pytest.mark.parametrize("formula", ["y ~ 0 + a + (1|g)", "y ~ a - 1 + (1|g)", "y ~ -1 + a + (1|g)"])
def test_intercept_can_be_removed(formula):
    parsed = parse_formula(formula)
    assert not parsed.intercept
    assert parsed.fixed_terms == (("a",),)


def test_terms_can_be_removed_and_intercept_only_model():
    assert parse_formula("y ~ a*b - a:b + (1|g)").fixed_terms == (("a",), ("b",))
    only = parse_formula("y ~ 1 + (1 | reader)")
    assert only.intercept and only.fixed_terms == ()
    assert only.random_terms == (RandomTerm("reader", ("reader",)),)


def test_backticks_and_dotted_names():
    parsed = parse_formula("`correct top1` ~ reader.group + (1|`case id`)")
    assert parsed.response == "correct top1"
    assert parsed.fixed_terms == (("reader.group",),)
    assert parsed.random_terms[0].group == "case id"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y + (1|g)", "exactly one '~'"),
        ("y ~ a + (arm:x|reader)", "random terms are"),  # slopes are main-effect columns
        ("y ~ a + (1|reader/case)", "nested"),
        ("y ~ a + (1|g) + (1|g)", "repeated"),
        ("y ~ a + $b", "unsupported character"),
        ("y ~ a + (1|g) - (1|h)", "cannot be removed"),
        ("y ~ a +", "expected"),
    ],
)
def test_unsupported_formulas_raise_value_error(formula, message):
    with pytest.raises(ValueError, match=message):
        parse_formula(formula)
