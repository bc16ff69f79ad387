import pytest

from chungus.gateway.balancer import Balancer, least_outstanding
from chungus.gateway.errors import ServiceUnavailable
from chungus.gateway.snapshot import BackendInfo

A = BackendInfo(id=1, url="http://a", max_concurrency=2)
B = BackendInfo(id=2, url="http://b", max_concurrency=2)


def test_it_picks_the_backend_with_the_fewest_requests_in_flight():
    assert least_outstanding([A, B], {1: 1, 2: 0}) is B
    assert least_outstanding([A, B], {}) is A


def test_it_skips_backends_at_their_limit():
    assert least_outstanding([A, B], {1: 2, 2: 2}) is None


def test_it_counts_and_releases():
    balancer = Balancer()
    first, second = balancer.acquire("m", [A, B]), balancer.acquire("m", [A, B])
    assert {first.id, second.id} == {1, 2}
    balancer.release(first)
    assert balancer.in_flight[first.id] == 0


def test_it_answers_503_when_a_model_has_no_backend_or_no_room():
    balancer = Balancer()
    with pytest.raises(ServiceUnavailable) as error:
        balancer.acquire("m", [])
    assert error.value.headers["Retry-After"]
    balancer.in_flight = {1: 2}
    with pytest.raises(ServiceUnavailable, match="concurrency limit"):
        balancer.acquire("m", [A])
