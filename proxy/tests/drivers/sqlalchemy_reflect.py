"""SQLAlchemy reflection through the proxy (run by
proxy/tests/e2e_drivers.rs) with the driver named by argv[3]: pymysql or
mysqlconnector. Prints one line per check."""
import sys

port, db, other, driver = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if driver == "mysqlconnector":
    import _mysql_connector  # noqa: F401  (before ssl: see connector_client.py)
from sqlalchemy import create_engine, inspect, text  # noqa: E402

engine = create_engine(f"mysql+{driver}://haoka:haoka@127.0.0.1:{port}/{db}")
insp = inspect(engine)
print("schemas", ",".join(s for s in insp.get_schema_names() if s in (db, other)))
print("tables", ",".join(sorted(insp.get_table_names(schema=db))))
print("other", ",".join(sorted(insp.get_table_names(schema=other))))
print("default", ",".join(sorted(insp.get_table_names())))
print("columns", ",".join(f"{c['name']}:{c['type']}" for c in insp.get_columns("ledger", schema=db)))
print("pk", ",".join(insp.get_pk_constraint("ledger", schema=db)["constrained_columns"]))
print("indexes", ",".join(
    f"{ix['name']}:{'+'.join(ix['column_names'])}:{ix['unique']}"
    for ix in sorted(insp.get_indexes("orders", schema=db), key=lambda ix: ix["name"])))
print("unique", ",".join(
    f"{u['name']}:{'+'.join(u['column_names'])}" for u in insp.get_unique_constraints("region", schema=db)))
print("other-columns", ",".join(c["name"] for c in insp.get_columns("other_item", schema=other)))
with engine.connect() as c:
    print("count", c.execute(text("SELECT COUNT(*) FROM ledger")).scalar())
    bins = [r[0] for r in c.execute(text("SELECT bn FROM typed ORDER BY id"))]
    print("merged-binary", type(bins[0]).__name__, ",".join(bytes(b).hex() for b in bins))
