"""Helpers for the migrations that adopt tables from a database made before the app split."""

from __future__ import annotations


def move_content_types(apps, old_app: str, new_app: str, models: tuple[str, ...]) -> None:
    """Relabel content types (and so their permissions and admin log entries) of moved models.

    A database made before the split has e.g. `readerstudy.caseset` with the permissions granted
    to coordinators; relabelling keeps those grants. A new database has none yet: nothing to do.
    """
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if ContentType.objects.filter(app_label=new_app, model=model).exists():
            continue
        ContentType.objects.filter(app_label=old_app, model=model).update(app_label=new_app)


def column_names(schema_editor, table: str) -> set[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, table)}


def foreign_key_constraints(schema_editor, table: str, column: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [name for name, info in constraints.items() if info.get("foreign_key") and info["columns"] == [column]]
