"""Serving: the gold feature tables as a Feast feature store.

* :mod:`medallion.serving.definitions` - entities and feature views generated from the table
  registry (they cannot drift from the gold schemas);
* :mod:`medallion.serving.store` - the Feast store of a config: registry, online store (Redis, or
  the embedded SQLite store when no Redis is configured), Spark offline store;
* :mod:`medallion.serving.plan` - pure transforms: what the online store must hold, what changed
  since the last materialisation, point-in-time training sets;
* :mod:`medallion.serving.job` - ``medallion materialize``; :mod:`medallion.serving.training` -
  ``medallion training-set``; :mod:`medallion.serving.lookup` - online lookups and the HTTP
  feature endpoint.
"""
