"""tiktok-top10: the daily Korean TikTok Top-10 per category.

One module per stage (``crawl``, ``dedup``, ``language``, ``publish``, ``retention``), plus ``config``,
``storage`` and ``models``. Nothing here imports Airflow: the DAG in ``dags/`` is a thin wiring layer.
"""

__version__ = "0.1.0"
