"""Steps the support table's code specs name: compiled, never run."""


def make(rows: int, table: str) -> dict:
    return {}


def use(table: str) -> dict:
    return {"count": 0}
