"""A conversation's slot memory forgets companies its manager no longer sees (the HTTP side of
a reassignment is in tests/serve/test_scope.py)."""

from __future__ import annotations

from finassist.assistant.session import SessionState

MOVED, KEPT = ("E0006", "宁波远航汽车零部件有限公司"), ("E0001", "华东汽车集团股份有限公司")


def _state() -> SessionState:
    state = SessionState()
    state.focus(*KEPT)
    state.focus(*MOVED)
    state.pending = {"intent": "risk", "candidates": [{"id": MOVED[0], "name": MOVED[1]}]}
    state.query = {
        "metrics": ["invoice_amount"],
        "filters": [{"dimension": "enterprise", "values": [MOVED[0]]}],
    }
    return state


def test_a_moved_company_is_forgotten_everywhere_it_was_remembered() -> None:
    state = _state()
    assert state.forget_hidden(lambda eid: eid != MOVED[0]) is True
    assert (state.enterprise_id, state.enterprise_name) == (None, None)
    assert state.mentioned == [{"id": KEPT[0], "name": KEPT[1]}]
    assert state.pending is None and state.query is None
    assert MOVED[1] not in state.to_json() and MOVED[0] not in state.to_json()


def test_companies_still_in_scope_are_kept() -> None:
    state = _state()
    before = state.to_json()
    assert state.forget_hidden(lambda eid: True) is False
    assert state.to_json() == before
    other = SessionState(
        query={"metrics": ["x"], "filters": [{"dimension": "region", "values": ["E0006"]}]}
    )
    assert other.forget_hidden(lambda eid: eid != MOVED[0]) is False and other.query is not None
