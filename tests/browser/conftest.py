"""Browser checks: open generated reports in headless Chromium (Debian package `chromium`)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: opens a generated report in headless Chromium")
