"""What each chapter page shows, one module a chapter (same name as its ``convlib.experiments`` module): the
verdicts, numbers, tables and figures drawn from the cached results. Nothing here is cached or fingerprinted,
so a page can change without making a result stale."""

__all__: list[str] = []
