"""Phrase templates: every pattern fills, and composed texts vary."""

from __future__ import annotations

import numpy as np

from juncture.simulate import text
from juncture.simulate.catalog import DEFAULT_CATALOG


def _all_patterns() -> list[str]:
    pools = [*text.CATEGORY_SENTENCES.values(), *text.TROUBLE_SENTENCES.values()]
    pools += [getattr(text, name) for name in dir(text) if name.isupper() and name != "ITEMS"]
    return [p for pool in pools if isinstance(pool, tuple) for p in pool]


def test_every_pattern_fills() -> None:
    rng = np.random.default_rng(0)
    patterns = _all_patterns()
    assert len(set(patterns)) >= 300
    for p in patterns:
        filled = text.pick_texts(rng, (p,), 1)[0]
        assert "{" not in filled and "}" not in filled


def test_ticket_texts_cover_every_category_and_vary() -> None:
    rng = np.random.default_rng(1)
    cats = list(DEFAULT_CATALOG.ticket_categories) * 50
    texts = text.ticket_texts(rng, cats, [i % 2 == 0 for i in range(len(cats))])
    assert len(texts) == len(cats)
    assert all(t.strip() for t in texts)
    assert len(set(texts)) > 0.9 * len(texts)
