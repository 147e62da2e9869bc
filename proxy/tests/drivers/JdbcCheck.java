// JDBC against the proxy (run by proxy/tests/e2e_drivers.rs): a pool's
// start-up and validation calls, catalog metadata, prepared round trips.
// Args: jdbc url prefix (jdbc:mariadb://127.0.0.1:PORT/), database, other
// database. Prints one line per check.
import java.sql.*;
import java.util.*;

public class JdbcCheck {
  static String join(List<String> l) { return String.join(",", l); }

  public static void main(String[] a) throws Exception {
    String url = a[0] + a[1] + "?user=haoka&password=haoka";
    String db = a[1], other = a[2];
    for (String ps : new String[] {"false", "true"}) {
      try (Connection c = DriverManager.getConnection(url + "&useServerPrepStmts=" + ps)) {
        // What HikariCP does with a new connection.
        boolean valid = c.isValid(5);
        int iso = c.getTransactionIsolation();
        boolean ac = c.getAutoCommit();
        c.setAutoCommit(false);
        c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        int iso2 = c.getTransactionIsolation();
        c.rollback();
        c.setAutoCommit(true);
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        c.setReadOnly(false);
        System.out.println("pool " + ps + " " + valid + " " + iso + " " + ac + " " + iso2 + " " + c.getCatalog());

        try (PreparedStatement st = c.prepareStatement(
            "SELECT region, COUNT(*) AS n, SUM(amount) AS total, MAX(note) AS top FROM orders WHERE id > ? GROUP BY region ORDER BY region")) {
          st.setLong(1, 0);
          try (ResultSet rs = st.executeQuery()) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> rows = new ArrayList<>();
            while (rs.next()) rows.add(rs.getString(1) + ":" + rs.getLong(2) + ":" + rs.getBigDecimal(3) + ":" + rs.getString(4));
            System.out.println("merged " + ps + " " + String.join(" ", rows)
                + " precision " + md.getPrecision(1) + "/" + md.getPrecision(4) + " " + md.getColumnTypeName(3));
          }
        }
        try (PreparedStatement st = c.prepareStatement("SELECT id, note, created FROM orders WHERE id = ?")) {
          st.setLong(1, 101);
          try (ResultSet rs = st.executeQuery()) {
            rs.next();
            System.out.println("point " + ps + " " + rs.getLong(1) + ":" + rs.getString(2) + ":" + rs.getTimestamp(3));
          }
        }
        try (PreparedStatement st = c.prepareStatement("SELECT v FROM setting WHERE k = ?")) {
          st.setString(1, "bin");
          try (ResultSet rs = st.executeQuery()) {
            rs.next();
            StringBuilder hex = new StringBuilder();
            for (byte b : rs.getBytes(1)) hex.append(String.format("%02x", b));
            System.out.println("binary " + ps + " " + hex + " " + rs.getMetaData().getColumnTypeName(1));
          }
        }
        try (PreparedStatement st = c.prepareStatement("UPDATE orders SET created = ? WHERE id IN (?, ?)")) {
          st.setTimestamp(1, Timestamp.valueOf(ps.equals("true") ? "2025-01-01 00:00:00" : "2025-02-02 00:00:00"));
          st.setLong(2, 103);
          st.setLong(3, 104);
          System.out.println("update " + ps + " " + st.executeUpdate());
        }
      }
    }
    try (Connection c = DriverManager.getConnection(url)) {
      DatabaseMetaData md = c.getMetaData();
      System.out.println("product " + md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
      List<String> cats = new ArrayList<>();
      try (ResultSet rs = md.getCatalogs()) { while (rs.next()) cats.add(rs.getString("TABLE_CAT")); }
      System.out.println("catalogs " + join(cats));
      List<String> tables = new ArrayList<>();
      try (ResultSet rs = md.getTables(db, null, "%", new String[] {"TABLE"})) {
        while (rs.next()) tables.add(rs.getString("TABLE_CAT") + "." + rs.getString("TABLE_NAME"));
      }
      System.out.println("tables " + join(tables));
      List<String> otherTables = new ArrayList<>();
      try (ResultSet rs = md.getTables(other, null, "%", null)) {
        while (rs.next()) otherTables.add(rs.getString("TABLE_NAME"));
      }
      System.out.println("other " + join(otherTables));
      List<String> cols = new ArrayList<>();
      try (ResultSet rs = md.getColumns(db, null, "ledger", "%")) {
        while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("COLUMN_SIZE"));
      }
      System.out.println("columns " + join(cols));
      List<String> pk = new ArrayList<>();
      try (ResultSet rs = md.getPrimaryKeys(db, null, "ledger")) {
        while (rs.next()) pk.add(rs.getString("COLUMN_NAME") + ":" + rs.getInt("KEY_SEQ") + ":" + rs.getString("TABLE_NAME"));
      }
      System.out.println("pk " + join(pk));
      List<String> idx = new ArrayList<>();
      try (ResultSet rs = md.getIndexInfo(db, null, "orders", false, false)) {
        while (rs.next()) idx.add(rs.getString("INDEX_NAME") + ":" + rs.getString("COLUMN_NAME") + ":" + rs.getBoolean("NON_UNIQUE"));
      }
      Collections.sort(idx);
      System.out.println("indexes " + join(idx));
    }
  }
}
