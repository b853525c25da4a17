"""Adjustments: one file per stage that moves per-component or per-query predictions.

Each module has ``STAGE`` (its name in :class:`recommender.model.config.PipelineConfig`) and an
``apply`` function taking typed records and returning new ones; the order they run in is
:data:`recommender.model.pipeline.PART_STAGES` / ``QUERY_STAGES``.
"""
