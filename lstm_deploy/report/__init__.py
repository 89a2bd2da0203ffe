"""Report: the benchmark report (JSON/CSV/Markdown), plots, the files they are written to, the run report, and the one Markdown -> HTML converter.

Example:
    >>> from lstm_deploy.report.bench import BenchReport               # doctest: +SKIP
    >>> from lstm_deploy.report.write import write_report              # doctest: +SKIP
"""
