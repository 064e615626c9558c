import scraper


def test_public_api_is_exactly_all():
    public = {name for name in dir(scraper) if not name.startswith("_")}
    modules = {
        "anyof",
        "archives",
        "attribution",
        "blocks",
        "clean",
        "cluster",
        "dedup",
        "cli",
        "embedded",
        "explain",
        "compiled",
        "config",
        "discover",
        "errors",
        "extract",
        "fetch",
        "find",
        "models",
        "normalise",
        "pipeline",
        "report",
        "rules",
        "sinks",
        "store",
        "store_pg",
        "templates",
        "trees",
    }
    assert set(scraper.__all__) <= public
    assert public - set(scraper.__all__) <= modules
    for name in scraper.__all__:
        assert getattr(scraper, name) is not None
