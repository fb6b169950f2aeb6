"""Pure parts of the local engine: the base-model layout and the chunk schedule that makes
prefix reuse reproducible."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt.llm.local.aligned import plain_prompt, schedule


def test_plain_prompt_lays_out_demos_and_ends_with_the_label_cue() -> None:
    text = plain_prompt(
        [
            {"role": "system", "content": "Classify.\n\nLabels:\na\nb"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "second"},
        ]
    )
    assert text == "Classify.\n\nLabels:\na\nb\nInput: first\nLabel: a\n\nInput: second\nLabel:"


def test_schedule_has_a_chunk_start_at_the_input_boundary() -> None:
    assert schedule(300, 200, 64) == [0, 64, 128, 192, 200, 264]
    assert schedule(100, 0, 64) == [0, 64]
    assert schedule(50, 10, 64) == [0, 10]


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(n=st.integers(1, 5000), boundary=st.integers(0, 5000), align=st.sampled_from([16, 32, 64, 128]))
def test_schedule_chunks_are_sorted_bounded_and_cover_the_prompt(n: int, boundary: int, align: int) -> None:
    starts = schedule(n, boundary, align)
    assert starts[0] == 0 and starts == sorted(set(starts)) and all(s < n for s in starts)
    ends = [*starts[1:], n]
    assert all(0 < e - s <= align for s, e in zip(starts, ends, strict=True))
    if 0 < boundary < n:
        assert boundary in starts


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(n=st.integers(2, 2000), boundary=st.integers(1, 1999), extra=st.integers(1, 500))
def test_a_shared_prefix_gives_the_same_chunks_up_to_the_boundary(n: int, boundary: int, extra: int) -> None:
    """Two prompts with the same shared part (same boundary) evaluate it in identical chunks,
    which is what makes reusing its KV cache exact."""
    if boundary >= n:
        return
    a, b = schedule(n, boundary, 64), schedule(n + extra, boundary, 64)
    assert [s for s in a if s <= boundary] == [s for s in b if s <= boundary]


def test_reuse_needs_identical_chunks_below_the_reuse_point() -> None:
    from promptopt.llm.local.aligned import reusable_prefix

    previous = schedule(300, 100, 64)  # [0, 64, 100, 164, 228, 292]
    current = schedule(300, 228, 64)  # [0, 64, 128, 192, 228, 292]
    assert reusable_prefix(previous, current, limit=299) == 64  # 228 is shared but chunked differently
    same = schedule(320, 100, 64)
    assert reusable_prefix(previous, same, limit=250) == 228
    assert reusable_prefix(previous, same, limit=99) == 64
    assert reusable_prefix(previous, same, limit=10) == 0


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(
    n1=st.integers(2, 800),
    p1=st.integers(0, 800),
    n2=st.integers(2, 800),
    p2=st.integers(0, 800),
    limit=st.integers(0, 800),
)
def test_reused_prefix_is_chunked_identically(n1: int, p1: int, n2: int, p2: int, limit: int) -> None:
    from promptopt.llm.local.aligned import reusable_prefix

    a, b = schedule(n1, p1, 64), schedule(n2, p2, 64)
    keep = reusable_prefix(a, b, limit)
    assert keep <= limit and keep in a and keep in b
    assert [s for s in a if s <= keep] == [s for s in b if s <= keep]
