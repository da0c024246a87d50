from config.backoff import Backoff


def test_delays_double_up_to_the_cap():
    backoff = Backoff(first=1.0, most=60.0)
    assert [backoff.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_months_long_outage_stays_at_the_cap():
    assert Backoff(first=60.0, most=21_600.0).delay(100_000) == 21_600.0


def test_jitter_spreads_each_delay_over_its_upper_half():
    delays = {Backoff(first=4.0, most=60.0, jitter=True).delay(2) for _ in range(200)}
    assert all(4.0 <= delay <= 8.0 for delay in delays)
    assert len(delays) > 100  # spread, not one value
