-- Runs once, when a shard host's data directory is created: the proxy's
-- account (made by the image from MARIADB_USER / MARIADB_PASSWORD_FILE) may
-- create and use every haoka and sbtest shard database on this host.
GRANT ALL PRIVILEGES ON `haoka\_%`.* TO 'haoka_proxy'@'%';
GRANT ALL PRIVILEGES ON `sbtest\_%`.* TO 'haoka_proxy'@'%';
