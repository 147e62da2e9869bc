"""mysql-connector-python against the proxy with default settings (run by
proxy/tests/e2e_drivers.rs): `cext` uses the C extension, `pure` the pure
Python protocol. Prints one line per check."""
import sys

port, db, flavour = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if flavour == "cext":
    # The wheel's C extension links the OpenSSL it bundles (3.2+); it must
    # load before Python's ssl module brings the system's (Debian 12: 3.0).
    import _mysql_connector  # noqa: F401
import mysql.connector  # noqa: E402

conn = mysql.connector.connect(
    host="127.0.0.1", port=port, user="haoka", password="haoka", database=db,
    use_pure=(flavour == "pure"))
print("class", type(conn).__name__)
print("server", conn.get_server_info())
cur = conn.cursor()
cur.execute("SELECT region, COUNT(*), SUM(amount) FROM orders GROUP BY region ORDER BY region")
print("merged", " ".join(f"{r}:{n}:{t}" for r, n, t in cur.fetchall()))
cur.execute("SELECT @@transaction_isolation, @@session.transaction_read_only")
print("vars", *cur.fetchone())
cur.execute("SELECT v FROM setting WHERE k = 'bin'")
(v,) = cur.fetchone()
print("binary", type(v).__name__, bytes(v).hex())
cur.execute("SELECT bn FROM typed ORDER BY id")
rows = [r[0] for r in cur.fetchall()]
print("merged-binary", type(rows[0]).__name__, ",".join(bytes(b).hex() for b in rows))
pc = conn.cursor(prepared=True)
pc.execute("SELECT id, note FROM orders WHERE id = %s", (101,))
print("prepared", *pc.fetchone())
pc.execute("SELECT COUNT(*), MAX(id) FROM orders WHERE region = %s", ("31",))
print("prepared-agg", *pc.fetchone())
# Autocommit is off by default: a transaction, committed.
cur.execute("INSERT INTO orders (region, amount, note) VALUES (%s, %s, %s)", ("99", 2.5, flavour))
new_id = cur.lastrowid
conn.commit()
cur.execute("SELECT note FROM orders WHERE id = %s", (new_id,))
print("insert", new_id > 0, *cur.fetchone())
conn.close()
