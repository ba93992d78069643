"""Online lookups: the Feast SDK call behind ``medallion features get`` and the HTTP feature
endpoint (``medallion serve``).

The endpoint is a small read-only FastAPI app on the Feast store (FastAPI and uvicorn come with
Feast), not Feast's own feature server: that one also exposes ``/push``, ``/write-to-online-store``
and ``/materialize`` without authentication, and nothing but ``medallion materialize`` may write
the online store. Routes:

* ``GET /features/user/{user_id}`` and ``GET /features/video/{video_id}`` - one JSON object: the
  entity key, ``"feature_view"``, and every feature of the view with its online value (null when
  the store holds none);
* ``GET /health`` - ``{"status": "ok"}`` once the registry is loaded.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from medallion.serving.definitions import VIEW_OF_KEY, VIEWS, ViewSpec

#: URL segment of each entity key.
ROUTE_OF_KEY = {v.join_key: v.entity for v in VIEWS.values()}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def lookup(store: Any, view: ViewSpec, entity_ids: list[str]) -> list[dict[str, Any]]:
    """The online values of ``view``'s features for each entity id, in order: one dict per
    entity (key, ``feature_view``, every feature; None where the store has no value)."""
    if not entity_ids:
        return []
    response = store.get_online_features(
        features=view.references(), entity_rows=[{view.join_key: e} for e in entity_ids]
    ).to_dict()
    out = []
    for i, entity in enumerate(entity_ids):
        row: dict[str, Any] = {view.join_key: entity, "feature_view": view.name}
        for name in view.feature_names:
            row[name] = _json_value(response[name][i])
        out.append(row)
    return out


def lookup_entities(store: Any, ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """``{"user_id": [...], "video_id": [...]}`` -> one dict per entity (users first)."""
    out: list[dict[str, Any]] = []
    for key, values in ids.items():
        out += lookup(store, VIEW_OF_KEY[key], values)
    return out


def app(store: Any) -> Any:
    """The read-only HTTP feature endpoint (see the module docstring)."""
    from fastapi import FastAPI

    api = FastAPI(title="medallion features", docs_url=None, redoc_url=None, openapi_url=None)
    store.list_feature_views()  # load the registry now: a missing one fails at start, not per request

    @api.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for key, route in ROUTE_OF_KEY.items():
        api.add_api_route(
            f"/features/{route}/{{entity_id}}",
            _handler(store, VIEW_OF_KEY[key]),
            methods=["GET"],
            name=f"{route}_features",
        )
    return api


def _handler(store: Any, view: ViewSpec):
    def get(entity_id: str) -> dict[str, Any]:
        return lookup(store, view, [entity_id])[0]

    return get
