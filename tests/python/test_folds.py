"""Folds over lists of events (Riemann's folds_test.clj cases)."""

import pytest

from dmon import folds


def m(*ms):
    return [{"metric": x} for x in ms]


@pytest.mark.parametrize("es,expect", [
    ([], []), (m(None), []), (m(1), m(1, 1, 1)), (m(2, 1), m(1, 2, 2)), (m(3, 1, 2), m(1, 2, 3)),
    (m(6, 1, 2, 1, 1), m(1, 1, 6)),
])
def test_sorted_sample_extract(es, expect):
    assert folds.sorted_sample_extract(es, [0, 0.5, 1]) == expect


def test_sorted_sample_appends_points_or_names():
    assert folds.sorted_sample(m(2, 1), [0, 0.5, 1]) == [
        {"metric": 1, "service": " 0"}, {"metric": 2, "service": " 0.5"}, {"metric": 2, "service": " 1"}]
    assert folds.sorted_sample(m(6, 1, 2, 1, 1), {0: " min", 0.5: " median", 1: " max"}) == [
        {"metric": 1, "service": " min"}, {"metric": 1, "service": " median"}, {"metric": 6, "service": " max"}]
    assert folds.sorted_sample([], [0.5]) == []


def test_sum_product_and_strict_versions():
    assert folds.sum(m(1, 2, 3)) == {"metric": 6}
    assert folds.sum([None, {"host": "a"}, {"metric": 2}]) == {"host": "a", "metric": 2}
    assert folds.sum([]) is None
    assert folds.product(m(2, None, 3)) == {"metric": 6}
    assert folds.sum_(m(1, 2)) == {"metric": 3}
    with pytest.raises((TypeError, KeyError)):
        folds.sum_(m(1, None))
    with pytest.raises(Exception):
        folds.product_([{"metric": 2}, None])


def test_difference_and_quotient():
    assert folds.difference(m(5, 1, 2)) == {"metric": 2}
    assert folds.difference([{"metric": 5}, {}]) == {"description": "An event or metric was nil."}
    assert folds.difference([]) is None
    assert folds.quotient(m(12, 2, 3)) == {"metric": 2.0}
    assert folds.quotient(m(1, 0)) == {"description": "Can't divide by zero"}
    assert folds.quotient([None]) is None
    assert folds.quotient_sloppy(m(0, 0)) == {"metric": 0}
    assert folds.quotient_sloppy(m(4, 2)) == {"metric": 2.0}
    with pytest.raises(ZeroDivisionError):
        folds.quotient_(m(1, 0))
    assert folds.difference_(m(3, 1)) == {"metric": 2}


def test_mean_median_extremes_mode():
    assert folds.mean(m(2, 4, None, 6)) == {"metric": 4.0}
    assert folds.mean([]) is None and folds.mean(m(None)) is None
    assert folds.median(m(3, 1, 2)) == {"metric": 2}
    assert folds.minimum(m(3, None, 1, 2)) == {"metric": 1}
    assert folds.maximum(m(3, None, 1, 2)) == {"metric": 3}
    assert folds.maximum([]) is None
    assert folds.modes(m(1, 2, 2, 1, 3)) == m(1, 2)
    assert folds.mode(m(1, 2, 2)) == {"metric": 2}
    assert folds.mode([]) is None


def test_std_dev_and_count():
    assert folds.std_dev(m(600, 470, 170, 430, 300))["metric"] == pytest.approx(147.32277, rel=1e-6)
    assert folds.count([{"host": "a"}, None, {"host": "b"}]) == {"host": "a", "metric": 2}
    assert folds.count([]) == {"metric": 0}


def test_folds_do_not_mutate_their_input():
    es = m(1, 2)
    folds.sum(es)
    folds.sorted_sample(es, [0])
    assert es == m(1, 2)
