// node mysql2 against the proxy (run by proxy/tests/e2e_drivers.rs):
// query() on merged results, execute() prepared, a pool, a MySQL 8
// handshake collation. Prints one line per check.
'use strict';
const mysql = require('mysql2/promise');

async function main() {
  const [port, db] = process.argv.slice(2);
  const opts = { host: '127.0.0.1', port: Number(port), user: 'haoka', password: 'haoka', database: db };
  const conn = await mysql.createConnection(opts);

  // query(): a GROUP BY merged from every shard, and its column definitions.
  const [groups, fields] = await conn.query(
    'SELECT region, COUNT(*) AS n, SUM(amount) AS total, MAX(note) AS top FROM orders GROUP BY region ORDER BY region');
  console.log('query ' + groups.map((r) => `${r.region}:${r.n}:${r.total}:${r.top}`).join(' '));
  console.log('fields ' + fields.map((f) => `${f.name}/${f.characterSet}/${f.columnLength}`).join(' '));

  // execute(): server-side prepared, merged and single-shard.
  const [byId] = await conn.execute('SELECT id, note, created FROM orders WHERE id IN (?, ?) ORDER BY id', [101, 102]);
  console.log('execute ' + byId.map((r) => `${r.id}:${r.note}:${r.created.toISOString()}`).join(' '));
  const [[agg]] = await conn.execute('SELECT COUNT(*) AS n, MIN(region) AS lo FROM orders WHERE amount > ?', [0]);
  console.log(`execute-agg ${agg.n}:${agg.lo}`);
  const [[bin]] = await conn.execute('SELECT v FROM setting WHERE k = ?', ['bin']);
  console.log(`binary ${Buffer.isBuffer(bin.v)}:${bin.v.toString('hex')}`);
  const [bins] = await conn.query('SELECT bn FROM typed ORDER BY id');
  console.log(`merged-binary ${bins.every((r) => Buffer.isBuffer(r.bn))}:${bins.map((r) => r.bn.toString('hex')).join(',')}`);
  const [ins] = await conn.execute('INSERT INTO orders (region, amount, note) VALUES (?, ?, ?)', ['51', 9.75, 'node']);
  const [[back]] = await conn.execute('SELECT note FROM orders WHERE id = ?', [ins.insertId]);
  console.log(`insert ${ins.affectedRows}:${ins.insertId > 0}:${back.note}`);
  await conn.end();

  // A pool: concurrent merged reads on a few connections.
  const pool = mysql.createPool({ ...opts, connectionLimit: 3 });
  const counts = await Promise.all(Array.from({ length: 9 }, () => pool.query('SELECT COUNT(*) AS n FROM orders')));
  console.log('pool ' + [...new Set(counts.map(([[r]]) => r.n))].join(','));
  await pool.end();

  // MySQL 8's default collation in the handshake (id 255).
  const c8 = await mysql.createConnection({ ...opts, charset: 'UTF8MB4_0900_AI_CI' });
  const [[cc]] = await c8.query('SELECT @@collation_connection AS c, @@character_set_client AS cs');
  const [[n8]] = await c8.query('SELECT COUNT(*) AS n FROM orders');
  console.log(`collation ${cc.c}:${cc.cs}:${n8.n}`);
  await c8.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
