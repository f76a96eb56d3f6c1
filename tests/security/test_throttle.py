"""The login throttle (per account with exponential back-off, per address with a much higher bound) and
`--trusted-proxies`, on a fake clock."""

import pytest

from webui.security.client_address import TrustedProxies, parse_networks
from webui.security.throttle import LoginThrottle, ThrottlePolicy

NAT = "192.168.1.1"


def throttle(now, **policy) -> LoginThrottle:
    return LoginThrottle(ThrottlePolicy(**{"free_failures": 3, "base_lockout": 10, "address_failures": 20,
                                           **policy}), clock=lambda: now[0])


def test_another_accounts_success_never_resets_the_count():
    """The reported bypass: guesses for alice, then bob's correct login, repeated."""
    now = [0.0]
    limiter = throttle(now)
    for _ in range(2):
        limiter.record_failure(NAT, "alice")
        limiter.record_success(NAT, "bob")
    assert limiter.retry_after(NAT, "alice") is None
    limiter.record_failure(NAT, "alice")
    limiter.record_success(NAT, "bob")
    assert limiter.retry_after(NAT, "alice") == pytest.approx(10)


def test_one_accounts_lockout_leaves_the_others_at_the_same_address_alone():
    now = [0.0]
    limiter = throttle(now)
    for _ in range(3):
        limiter.record_failure(NAT, "alice")
    assert limiter.retry_after(NAT, "alice") is not None
    assert limiter.retry_after(NAT, "bob") is None
    assert limiter.retry_after("10.9.9.9", "alice") is not None  # refused from everywhere, not just that address


def test_back_off_doubles_per_further_failure_up_to_the_cap_and_the_own_password_clears_it():
    now = [0.0]
    limiter = throttle(now, max_lockout=35)
    waits = []
    for _ in range(5):
        limiter.record_failure(NAT, "alice")
        waits.append(limiter.retry_after(NAT, "alice"))
    assert waits == [None, None, pytest.approx(10), pytest.approx(20), pytest.approx(35)]
    now[0] = 36
    assert limiter.retry_after(NAT, "alice") is None
    limiter.record_failure(NAT, "alice")  # still counted: one more failure after the wait doubles again
    assert limiter.retry_after(NAT, "alice") == pytest.approx(35)
    now[0] = 80
    limiter.record_success(NAT, "alice")
    limiter.record_failure(NAT, "alice")
    assert limiter.retry_after(NAT, "alice") is None


def test_years_of_slow_guessing_never_overflow_the_back_off():
    now = [0.0]
    limiter = throttle(now, max_lockout=60, forget_after=10**9, address_failures=10**9)
    for _ in range(1100):
        now[0] += 61
        limiter.record_failure(NAT, "alice")
    assert limiter.retry_after(NAT, "alice") == pytest.approx(60)


def test_an_address_guessing_across_many_names_is_locked_at_its_own_higher_bound():
    now = [0.0]
    limiter = throttle(now, address_failures=20, address_lockout=300)
    for index in range(19):
        limiter.record_failure(NAT, f"user{index}")
    assert limiter.retry_after(NAT, "bob") is None
    limiter.record_failure(NAT, "user19")
    assert limiter.retry_after(NAT, "bob") == pytest.approx(300)
    assert limiter.retry_after("10.0.0.2", "bob") is None


def test_memory_stays_bounded_under_a_flood_of_names():
    now = [0.0]
    limiter = throttle(now, max_tracked=50)
    for index in range(500):
        limiter.record_failure(f"10.0.{index // 250}.{index % 250}", f"name{index}")
    assert len(limiter._accounts) <= 50 and len(limiter._addresses) <= 50


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    proxies = TrustedProxies(parse_networks("127.0.0.1, 10.0.0.0/8"))
    assert proxies.client_of("127.0.0.1", "203.0.113.7") == "203.0.113.7"
    assert proxies.client_of("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3") == "203.0.113.7"
    assert proxies.client_of("192.168.1.50", "203.0.113.7") == "192.168.1.50"  # not a proxy: the header is ignored
    assert proxies.client_of("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert TrustedProxies().client_of("127.0.0.1", "203.0.113.7") == "127.0.0.1"
    assert proxies.scheme_of("127.0.0.1", "http", "https") == "https"
    assert proxies.scheme_of("192.168.1.50", "http", "https") == "http"
    with pytest.raises(ValueError, match="'10.0.0.300' is not an IP address"):
        parse_networks("10.0.0.300")
