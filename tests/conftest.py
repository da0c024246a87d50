import pytest

from tests.factories import ProductFactory


@pytest.fixture
def make_product(db):
    """Save a valid product; keyword arguments override any field (tests/factories.py)."""
    return ProductFactory.create


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the test item (the browser test screenshots failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
