"""A feed item is cached rendered, not liked; a reader who liked the post gets the same bytes with ``true``
(services/feed.py): the bytes the item renders to when it is liked."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from polysocial.domain.accounts import UserCard
from polysocial.services.feed import _as_liked, _item

TEXT = st.text(max_size=20)
POSTS = st.fixed_dictionaries(
    {"id": TEXT, "author_id": st.integers(1, 2**53), "text": TEXT},
    optional={"media": st.lists(TEXT, max_size=2), "stats": st.dictionaries(TEXT, st.integers(0, 10**9))},
)


@given(POSTS, st.none() | st.tuples(TEXT, st.none() | TEXT))
def test_a_liked_item_is_the_item_rendered_liked(post: dict[str, Any], card: tuple[str, str | None] | None) -> None:
    author = post["author_id"]
    cards = {author: UserCard(author, *card)} if card else {}
    rendered = orjson.dumps(_item(post, cards, liked=False))
    assert _as_liked(rendered) == orjson.dumps(_item(post, cards, liked=True))
    assert orjson.loads(_as_liked(rendered))["user_has_liked"] is True


def test_an_item_rendered_otherwise_is_still_read_right() -> None:
    odd = orjson.dumps({"user_has_liked": False, "id": "x"})
    assert orjson.loads(_as_liked(odd)) == {"user_has_liked": True, "id": "x"}
