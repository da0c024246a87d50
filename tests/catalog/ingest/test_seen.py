import random

from catalog.ingest.seen import SeenIds


def test_counts_ids_seen_in_earlier_calls():
    seen = SeenIds()
    assert seen.add(["a", "b"]) == 0
    assert seen.add(["b", "c"]) == 1
    assert seen.add([]) == 0
    assert seen.add(["a", "c", "d"]) == 2
    assert len(seen) == 4


def test_agrees_with_a_plain_set_over_many_batches():
    rng = random.Random(5)
    seen, reference = SeenIds(), set()
    for _ in range(300):
        batch = {f"id-{rng.randint(0, 20_000)}" for _ in range(rng.randint(0, 200))}
        expected = len(batch & reference)
        reference |= batch
        assert seen.add(batch) == expected
    assert len(seen) == len(reference)
