from config.text import counted


def test_one_is_singular_and_every_other_count_plural():
    assert counted(1, "product") == "1 product"
    assert [counted(n, "point") for n in (0, 2, 12_000)] == [
        "0 points",
        "2 points",
        "12,000 points",
    ]
    assert counted(3, "batch", "batches") == "3 batches"
