"""The search box's query language, and its translation for SQLite FTS5 and PostgreSQL.

One small language for both databases, as people type into a web search box:

    storm flood         both words (in any order, anywhere in the title, description or text)
    "central bank"      the phrase
    infla*              a word starting with `infla` (also `"central ban"*`; two letters at least)
    rates OR prices     either word; OR binds tighter than the implicit AND: `a OR b c` is (a or b) and c
    -sport              not this word (or `-"phrase"`); a query needs at least one word it wants

Anything else (brackets, colons, operators of either database's own syntax) is just text: the
user's words are quoted for each database, so no query reaches FTS5's or tsquery's parser
unquoted, and a query either database would reject is refused here with a message instead.
Each database splits a quoted word into tokens itself, the same way it indexed the text:
`covid-19` is the phrase "covid 19" to both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A word for our purposes: letters or digits (what both databases index); `_` separates, as
# it does for FTS5's unicode61 tokenizer and PostgreSQL's parser.
_TOKEN = re.compile(r"[^\W_]+")
_LEXEME = re.compile(r'(-?)"([^"]*)("?)(\*?)|(\S+)')
MAX_TERMS = 32


class QuerySyntaxError(ValueError):
    """A query that cannot be searched; the message says why, for the person who typed it."""


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # as typed, without quotes or the prefix star
    prefix: bool = False

    @property
    def tokens(self) -> list[str]:
        return _TOKEN.findall(self.text)


@dataclass(frozen=True, slots=True)
class Query:
    """Every group must match (AND); a group matches when any of its terms does (OR); no
    excluded term may match."""

    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()


def parse(text: str) -> Query:
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    join_next = False  # the previous lexeme was OR
    count = 0
    for match in _LEXEME.finditer(text):
        negated, quoted, closed, star, bare = match.groups()
        if bare is not None:
            if bare == "OR":
                if not groups or join_next:
                    raise QuerySyntaxError("OR needs a word on each side, as in `rates OR prices`")
                join_next = True
                continue
            if bare == "AND":  # words are ANDed anyway; people type it
                continue
            negated = "-" if bare.startswith("-") else ""
            bare = bare.removeprefix("-")
            star = "*" if bare.endswith("*") else ""
            term = Term(bare.rstrip("*"), prefix=bool(star))
        else:
            if not closed:
                raise QuerySyntaxError(f"a quote is not closed: {match.group(0)!r}")
            term = Term(quoted, prefix=bool(star))
        if not term.tokens:  # punctuation alone: nothing either database indexes
            join_next = False
            continue
        if term.prefix and len(term.tokens[-1]) < 2:
            # `s*` is most of the index's words: SQLite has no prefix index that short
            # (pipelines.storage.fulltext) and would merge them all, for a useless answer.
            raise QuerySyntaxError(f"a prefix needs two letters or more before `*`: {match.group(0)!r}")
        count += 1
        if count > MAX_TERMS:
            raise QuerySyntaxError(f"a query may have at most {MAX_TERMS} words or phrases")
        if negated:
            if join_next:
                raise QuerySyntaxError("OR cannot join an excluded word (`-word`)")
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    if join_next:
        raise QuerySyntaxError("OR needs a word on each side, as in `rates OR prices`")
    if not groups:
        if excluded:
            raise QuerySyntaxError("a query needs a word to look for; `-word` only excludes")
        raise QuerySyntaxError("the query has no word to look for")
    return Query(tuple(tuple(g) for g in groups), tuple(excluded))


# -- SQLite FTS5 ----------------------------------------------------------------------------------


def _fts5_term(term: Term) -> str:
    # An FTS5 string: its tokenizer splits it like the indexed text; `"` is doubled inside.
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def to_fts5(query: Query) -> str:
    """The query as an FTS5 MATCH expression (NOT is binary in FTS5: `a NOT b`)."""
    groups = ["(" + " OR ".join(_fts5_term(t) for t in group) + ")" for group in query.groups]
    expression = " AND ".join(groups)
    for term in query.excluded:
        expression = f"({expression}) NOT {_fts5_term(term)}"
    return expression


# -- PostgreSQL -----------------------------------------------------------------------------------


def has_phrase(query: Query) -> bool:
    """Whether a term is several words (a phrase, or `covid-19`): their order is checked on
    each article's positions, which an index of words alone cannot answer."""
    return any(len(t.tokens) > 1 for group in query.groups for t in group) or any(
        len(t.tokens) > 1 for t in query.excluded
    )


def to_tsquery_sql(
    query: Query, config: str = "simple", *, loose: bool = False, names: str = "q"
) -> tuple[str, dict[str, str]]:
    """A SQL expression building the tsquery, and its parameters.

    A plain word or phrase goes through phraseto_tsquery, which parses it as to_tsvector
    parsed the text; a prefix term through to_tsquery with `:*` on its last word, its words
    reduced to letters and digits first so nothing in them is tsquery syntax.

    `loose`: the same query with each phrase's words wanted in any order and excluded phrases
    left out, which the GIN index answers without reading a document: every article matching
    the query matches this one, so it finds the candidates to check the phrases on.
    `names`: what its parameters' names begin with."""
    params: dict[str, str] = {}

    def term_sql(term: Term) -> str:
        name = f"{names}{len(params)}"
        if term.prefix:
            tokens = term.tokens
            joint = " & " if loose else " <-> "
            params[name] = "".join(f"'{t}'{joint}" for t in tokens[:-1]) + f"'{tokens[-1]}':*"
            return f"to_tsquery('{config}', :{name})"
        params[name] = term.text
        return f"{'plainto_tsquery' if loose else 'phraseto_tsquery'}('{config}', :{name})"

    groups = ["(" + " || ".join(term_sql(t) for t in group) + ")" for group in query.groups]
    excluded = [t for t in query.excluded if not (loose and len(t.tokens) > 1)]
    parts = groups + [f"!!{term_sql(t)}" for t in excluded]
    return "(" + " && ".join(parts) + ")", params
