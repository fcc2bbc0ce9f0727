"""A parser for the subset of lme4's formula syntax that the mixed-model engine fits.

Supported: ``y ~ a + b + a:b + c*d - 1 + (1|g) + (1|g:h) + (x|g) + (0 + x|g)``. Fixed-effect
terms follow R's ``terms()`` rules where they matter for names and column order: ``a*b`` expands
to ``a + b + a:b``, duplicates collapse, and terms are ordered by interaction order (main effects
first), keeping first appearance within an order. Random terms are intercepts ``(1|g)`` or
correlated random slopes ``(x|g)`` / ``(1 + x + z|g)`` (intercept plus slopes, one unstructured
covariance per level, as lme4) and ``(0 + x|g)`` (slopes only); ``x`` is a main-effect column.
Their ``group`` keeps the text as written (whitespace removed) because results are reported under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

_TOKEN = re.compile(r"\s*(?:(`[^`]+`)|([A-Za-z_.][A-Za-z0-9_.]*)|(\d+)|(.))")
_OPERATORS = frozenset("~+-*:()|/")


@dataclass(frozen=True)
class RandomTerm:
    """A random term ``(1 + slopes|group)``; ``factors`` are the columns whose interaction groups it.

    ``slopes`` are the columns with a random slope (empty for a random intercept ``(1|g)``);
    ``intercept`` is False for ``(0 + x|g)``.
    """

    group: str
    factors: tuple[str, ...]
    slopes: tuple[str, ...] = ()
    intercept: bool = True


@dataclass(frozen=True)
class ParsedFormula:
    response: str
    intercept: bool
    fixed_terms: tuple[tuple[str, ...], ...]
    random_terms: tuple[RandomTerm, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        """Every column the formula reads, response first, without repeats."""
        names = [self.response]
        names += [v for term in self.fixed_terms for v in term]
        names += [v for term in self.random_terms for v in (*term.slopes, *term.factors)]
        return tuple(dict.fromkeys(names))


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        quoted, name, number, other = match.groups()
        if quoted:
            tokens.append(quoted[1:-1])
        elif name or number:
            tokens.append(name or number)
        elif other and not other.isspace():
            if other not in _OPERATORS:
                raise ValueError(f"formula {text!r}: unsupported character {other!r}")
            tokens.append(other)
    return tokens


class _Parser:
    """Recursive descent over the token list; fixed terms are sets of variable names."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.text = text

    def error(self, message: str) -> ValueError:
        return ValueError(f"formula {self.text!r}: {message}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise self.error(f"expected {expected or 'a term'} at token {self.pos + 1}")
        self.pos += 1
        return token

    def name(self) -> str:
        token = self.take()
        if token in _OPERATORS:
            raise self.error(f"expected a column name, found {token!r}")
        return token

    def product(self) -> list[tuple[str, ...]]:
        """``a:b*c`` -> the R expansion of the product as a list of interaction terms."""
        groups: list[list[str]] = [[self.name()]]
        while self.peek() in (":", "*"):
            operator = self.take()
            variable = self.name()
            if operator == ":":
                groups[-1].append(variable)
            else:
                groups.append([variable])
        terms: list[tuple[str, ...]] = []
        # a*b crosses whole ':' groups: every non-empty subset of them, lowest order first
        for size in range(1, len(groups) + 1):
            for subset in combinations(groups, size):
                terms.append(tuple(v for group in subset for v in group))
        return terms

    def random_term(self) -> RandomTerm:
        self.take("(")
        intercept, slopes = True, []
        sign = self.take() if self.peek() in ("+", "-") else "+"
        while True:
            token = self.take()
            if token in ("0", "1"):
                intercept = (token == "1") == (sign == "+")
            elif token in _OPERATORS or sign == "-" or self.peek() == ":" or self.peek() == "*":
                raise self.error("random terms are (1|g), (x|g), (1 + x|g) or (0 + x|g) with main-effect columns x")
            elif token not in slopes:
                slopes.append(token)
            if self.peek() == "|":
                break
            sign = self.take()
            if sign not in ("+", "-"):
                raise self.error(f"unexpected {sign!r} in a random term")
        if not intercept and not slopes:
            raise self.error("a random term needs an intercept or a slope")
        self.take("|")
        factors = [self.name()]
        while self.peek() == ":":
            self.take(":")
            factors.append(self.name())
        if self.peek() == "/":
            raise self.error("nested '/' grouping is not supported; write (1|a) + (1|a:b)")
        self.take(")")
        return RandomTerm(
            group=":".join(factors), factors=tuple(factors), slopes=tuple(slopes), intercept=intercept
        )


def _normalise_fixed(
    added: list[tuple[str, ...]], removed: list[tuple[str, ...]]
) -> tuple[tuple[str, ...], ...]:
    """Collapse duplicates (a:b is b:a), drop removed terms, order by interaction order like R."""
    seen: dict[frozenset[str], tuple[str, ...]] = {}
    for term in added:
        key = frozenset(term)
        if len(key) != len(term):
            continue  # a:a is a in R; the main effect is listed on its own when written
        seen.setdefault(key, term)
    for term in removed:
        seen.pop(frozenset(term), None)
    ordered = sorted(seen.values(), key=len)  # stable: first appearance within each order
    return tuple(ordered)


def parse_formula(text: str) -> ParsedFormula:
    """Parse ``response ~ fixed + (1|group) ...``; raise ValueError on anything unsupported."""
    if text.count("~") != 1:
        raise ValueError(f"formula {text!r}: needs exactly one '~'")
    parser = _Parser(_tokenize(text), text)
    response = parser.name()
    parser.take("~")
    intercept = True
    added: list[tuple[str, ...]] = []
    removed: list[tuple[str, ...]] = []
    random_terms: list[RandomTerm] = []
    sign = parser.take() if parser.peek() in ("+", "-") else "+"
    while True:
        token = parser.peek()
        if token == "(":
            if sign == "-":
                raise parser.error("random terms cannot be removed with '-'")
            random_terms.append(parser.random_term())
        elif token in ("0", "1"):
            parser.take()
            # "+ 0" and "- 1" drop the intercept, "+ 1" keeps it
            intercept = (token == "1") == (sign == "+")
        else:
            (added if sign == "+" else removed).extend(parser.product())
        if parser.peek() is None:
            break
        sign = parser.take()
        if sign not in ("+", "-"):
            raise parser.error(f"unexpected {sign!r}")
    groups = [term.group for term in random_terms]
    if len(set(groups)) != len(groups):
        raise parser.error("a random term is repeated")
    return ParsedFormula(
        response=response,
        intercept=intercept,
        fixed_terms=_normalise_fixed(added, removed),
        random_terms=tuple(random_terms),
    )
