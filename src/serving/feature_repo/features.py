"""The Feast objects of medallion's gold feature tables, for ``feast -c <this folder> plan|apply``.

They are generated from the table registry (:mod:`medallion.serving.definitions`); the gold tables
are named from the medallion configuration in the environment (``MEDALLION_ROOT`` locally, or
``MEDALLION_ENVIRONMENT=databricks`` with ``MEDALLION_CATALOG`` / ``MEDALLION_SCHEMA_PREFIX``).
"""

from medallion.config import Config
from medallion.serving.definitions import feast_objects
from medallion.serving.store import table_ref

user, user_features, video, video_features = feast_objects(table_ref(Config.from_sources()))
