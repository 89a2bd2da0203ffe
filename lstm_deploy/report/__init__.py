"""Report: the benchmark report (JSON/CSV/Markdown), plots, the run report, and the one Markdown -> HTML converter.

Example:
    >>> from lstm_deploy.report.bench import BenchReport, write_report   # doctest: +SKIP
"""
