"""medallion: shared core (config, storage adapter, Spark session, event contract, CLI)."""

__version__ = "0.1.0"
