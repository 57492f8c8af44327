"""Admin-defined custom fields: their definitions, and the checks every company and contact write passes."""

import re

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.errors import BadRequest, Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id, utc_now
from crm_common.schema import Field, field_problem, number_problem, validate
from crm_common.store import Transaction

from . import schemas
from .store import CUSTOM_FIELDS

KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_TEXT_LENGTH = 500


def check_definition(fields: dict, current: dict | None = None) -> dict:
    """A definition's fields after the rules that span them; ValidationFailed listing each problem."""
    merged = {**(current or {}), **fields}
    errors = []
    if not current and not KEY.match(merged["key"]):
        errors.append({"field": "key", "message": "must be lower-case letters, digits and _, starting with a letter"})
    kind = merged["type"]
    choices = merged.get("choices") or []
    if kind in ("choice", "multi_choice"):
        if not choices:
            errors.append({"field": "choices", "message": f"a {kind} field needs its choices"})
        elif len(set(choices)) != len(choices):
            errors.append({"field": "choices", "message": "must not repeat a value"})
    elif "choices" in fields and choices:
        errors.append({"field": "choices", "message": f"a {kind} field has no choices"})
    if fields.get("max_length") is not None:
        if kind != "text":
            errors.append({"field": "max_length", "message": "only text fields have a maximum length"})
        elif not 1 <= fields["max_length"] <= 20000:
            errors.append({"field": "max_length", "message": "must be between 1 and 20000"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    return fields


def value_problem(definition: dict, value) -> str | None:
    kind = definition["type"]
    if kind == "text":
        limit = definition.get("max_length") or DEFAULT_TEXT_LENGTH
        if not isinstance(value, str):
            return "must be text"
        return None if len(value) <= limit else f"must be at most {limit} characters"
    if kind == "number":
        return number_problem(value)
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "date":
        return field_problem(value, Field("date"))
    choices = definition.get("choices") or []
    if kind == "choice":
        return None if value in choices else f"must be one of {', '.join(choices)}"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be a list of choices"
    unknown = [v for v in value if v not in choices]
    return f"unknown choices: {', '.join(unknown)}" if unknown else None


def check_values(definitions: dict[str, dict], changes: dict, merged: dict) -> None:
    """`changes` are the custom field values a write sends, `merged` the record's values after it.
    Every key sent must be an active definition and its value valid; every required definition
    must hold a value afterwards."""
    errors = []
    for key, value in changes.items():
        definition = definitions.get(key)
        if definition is None and value is None:
            continue  # clearing a value, also of a retired definition, is always allowed
        if definition is None:
            errors.append({"field": f"custom_fields.{key}", "message": "is not a defined custom field"})
        elif value is not None and (problem := value_problem(definition, value)):
            errors.append({"field": f"custom_fields.{key}", "message": problem})
    for key, definition in definitions.items():
        if definition.get("required") and merged.get(key) in (None, "", []):
            errors.append({"field": f"custom_fields.{key}", "message": "is required"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid custom field(s)", errors)


class CustomFieldsRpc:
    """RPC entrypoints for custom field definitions (a mixin of ContactsService). Admins define
    them; everyone who works with customers reads them (forms and filters need them)."""

    def _active_definitions(self, source, entity: str) -> dict[str, dict]:
        """The entity's active definitions (do not change the answer). Read once per transaction:
        an import checks thousands of rows in one, and inside it no other write can change them."""
        seen = getattr(self, "_definitions_seen", None)
        if isinstance(source, Transaction) and seen is not None and seen[0] is source and entity in seen[1]:
            return seen[1][entity]
        found = source[CUSTOM_FIELDS].iterate({"entity": entity, "active": True})
        definitions = {d["key"]: d for d in found}
        if isinstance(source, Transaction):
            if seen is None or seen[0] is not source:
                # Holding the transaction keeps its identity from being reused by a later one.
                seen = self._definitions_seen = (source, {})
            seen[1][entity] = definitions
        return definitions

    def _check_custom_fields(self, tx, entity: str, changes: dict, merged: dict) -> None:
        check_values(self._active_definitions(tx, entity), changes, merged)

    @rpc
    def create_custom_field(self, data: dict) -> dict:
        require_role(self.caller, (ADMIN,), "define custom fields")
        fields = check_definition(
            validate(data, schemas.CUSTOM_FIELD_DEFINITION, server_owned=schemas.CUSTOM_FIELD_SERVER_OWNED)
        )
        now = utc_now()
        definition = {
            "id": new_id(),
            "choices": [],
            "required": False,
            "description": None,
            "max_length": None,
            **fields,
            "active": True,
            "created_by": self.caller.user_id,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.transaction() as tx:
            # The unique index on (entity, key) settles two concurrent creates; this names the match.
            taken = tx[CUSTOM_FIELDS].find({"entity": definition["entity"], "key": definition["key"]}, limit=1).items
            if taken:
                raise Conflict(f"a {definition['entity']} custom field named {definition['key']} exists", taken)
            self._definitions_seen = None
            return tx[CUSTOM_FIELDS].insert(definition)

    @rpc
    def list_custom_fields(self, query: dict) -> dict:
        """Every definition (they are few), by entity and key; `where` may name `entity` and `active`."""
        paging = sorted({"limit", "cursor", "sort", "filter"} & set(query or {}))
        if paging:
            raise BadRequest(f"custom fields come in one page: {', '.join(paging)} is not taken here")
        where = (query or {}).get("where") or {}
        unknown = sorted(set(where) - {"entity", "active"})
        if unknown:
            raise BadRequest(f"cannot filter custom fields on {', '.join(unknown)}")
        flt: dict = {}
        if "entity" in where:
            flt["entity"] = where["entity"]
        if "active" in where:
            if where["active"] not in ("true", "false"):
                raise BadRequest("active must be true or false")
            flt["active"] = where["active"] == "true"
        items = list(self.store[CUSTOM_FIELDS].iterate(flt or None, [("entity", 1), ("key", 1)]))
        return {"data": items, "next_cursor": None}

    @rpc
    def get_custom_field(self, custom_field_id: str) -> dict:
        found = self.store[CUSTOM_FIELDS].get(custom_field_id)
        if found is None:
            raise NotFound(f"custom field {custom_field_id} not found")
        return found

    @rpc
    def update_custom_field(self, custom_field_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, (ADMIN,), "change custom fields")
        fixed = ("entity", "key", "type")
        refused = [
            {"field": n, "message": "is fixed once defined"} for n in fixed if isinstance(data, dict) and n in data
        ]
        if refused:
            raise ValidationFailed("a custom field's entity, key and type are fixed", refused)
        changes = validate(
            data, schemas.CUSTOM_FIELD_UPDATE, partial=True, server_owned=schemas.CUSTOM_FIELD_SERVER_OWNED
        )
        with self.store.transaction() as tx:
            current = tx[CUSTOM_FIELDS].get(custom_field_id)
            if current is None:
                raise NotFound(f"custom field {custom_field_id} not found")
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"custom field {custom_field_id} is at version {current['version']}")
            check_definition(changes, current)
            self._definitions_seen = None
            return tx[CUSTOM_FIELDS].replace({**current, **changes, "updated_at": utc_now()}, current["version"])

    @rpc
    def delete_custom_field(self, custom_field_id: str, expected_version: int | None = None) -> None:
        """Retires a definition: records keep their values (history is never lost), new writes
        may no longer set it. Make it active again with an update."""
        self.update_custom_field(custom_field_id, {"active": False}, expected_version)
