"""Rolling an alias back to the version it named before: for a person or a monitor.

Promotion records, on the version an alias moves to, the version it named before
(`mlspec.previous.<alias>`); a rollback follows that record one step back and leaves a
`mlspec.rolled_back.<alias>` tag saying to which version and why, and on the version it
restores a `mlspec.restored.<alias>` tag saying from which (a monitor never rolls back a
restored version on its own: two automatic rollbacks in a row are for a person to decide).
Not shipped with compiled pipelines unless they roll back (kept out of registry.py, which every
target carries).
"""

from __future__ import annotations

from .registry import (
    REGISTRY_TAG_PREVIOUS_PREFIX,
    REGISTRY_TAG_ROLLED_BACK_PREFIX,
    PromotionRefused,
    _check_alias,
    _client,
    _get_or_none,
    _guard,
)

# + alias: on the version a rollback restored, from which version and why
REGISTRY_TAG_RESTORED_PREFIX = "mlspec.restored."


def rollback(
    tracking_uri: str, model_name: str, alias: str, from_version: str | None, reason: str
) -> tuple[str, bool]:
    """Point `alias` back at the version it named before its current one.

    `from_version`, when given, is the version found wanting: if the alias already left it for
    that version's predecessor (an earlier rollback), nothing changes, so a retried rollback is
    harmless; if it moved anywhere else, the rollback is refused. Returns (the version the alias
    names now, whether this call moved it). Refused when the alias is not set, or its version
    records no predecessor (the first version an alias named, or one set before mlspec
    recorded predecessors), or that predecessor no longer exists.
    """
    _check_alias(alias)
    with _guard(tracking_uri, f"roll back alias {alias!r} of model {model_name!r}"):
        client = _client(tracking_uri)
        model = _get_or_none(lambda: client.get_registered_model(model_name))
        current = None if model is None else model.aliases.get(alias)
        if model is None or current is None:
            raise PromotionRefused(f"model {model_name!r} has no alias {alias!r} to roll back")
        current = str(current)
        if from_version is not None and current != str(from_version):
            left = client.get_model_version(model_name, str(from_version))
            if left.tags.get(REGISTRY_TAG_PREVIOUS_PREFIX + alias) == current:
                return current, False  # rolled back already
            raise PromotionRefused(
                f"alias {alias!r} of model {model_name!r} names version {current}, not "
                f"{from_version}: it moved since, so it is not rolled back"
            )
        found = client.get_model_version(model_name, current)
        previous = found.tags.get(REGISTRY_TAG_PREVIOUS_PREFIX + alias)
        if previous is None:
            raise PromotionRefused(
                f"version {current} of model {model_name!r} records no version that alias "
                f"{alias!r} named before it: there is nothing to roll back to"
            )
        if _get_or_none(lambda: client.get_model_version(model_name, previous)) is None:
            raise PromotionRefused(
                f"alias {alias!r} named version {previous} of model {model_name!r} before "
                f"{current}, which no longer exists"
            )
        client.set_model_version_tag(
            model_name,
            current,
            REGISTRY_TAG_ROLLED_BACK_PREFIX + alias,
            f"to version {previous}: {reason}"[:5000],
        )
        client.set_model_version_tag(
            model_name,
            previous,
            REGISTRY_TAG_RESTORED_PREFIX + alias,
            f"from version {current}: {reason}"[:5000],
        )
        client.set_registered_model_alias(model_name, alias, previous)
        return previous, True
