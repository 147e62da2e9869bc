# Sourced by up.sh: loads schema/reference/*.csv into the broadcast tables
# province, city and segment of every database of the haoka schema, one
# transaction per database, only where the counts are not already right.
# (Directly for now; through the proxy's broadcast writes once it serves.)

REF="$ROOT/schema/reference"

# The haoka schema's databases, read from the rules file.
haoka_databases() {
  awk '/^\[\[schemas\]\]/{s=0} /^name = "haoka"/{s=1} s' "$ROOT/schema/rules.toml" |
    grep -o 'database = "[a-z0-9_]*"' | cut -d'"' -f2
}

reference_sql() {
  echo "SET NAMES utf8mb4; START TRANSACTION;"
  echo "DELETE FROM segment; DELETE FROM city; DELETE FROM province;"
  grep -v '^#' "$REF/provinces.csv" | awk -F, '{printf "INSERT INTO province VALUES (\x27%s\x27,\x27%s\x27,\x27%s\x27,\x27%s\x27);\n", $1, $2, $3, $4}'
  grep -v '^#' "$REF/cities.csv" | awk -F, '{printf "INSERT INTO city VALUES (\x27%s\x27,\x27%s\x27,\x27%s\x27);\n", $1, $2, $3}'
  grep -v '^#' "$REF/segments.csv" | awk -F, '
    { for (s = $1; s <= $2; s++) {
        if (n % 1000 == 0) printf "%sINSERT INTO segment VALUES ", (n ? ";\n" : "");
        else printf ",";
        printf "(\x27%d\x27,\x27%s\x27,\x27%s\x27,\x27%s\x27)", s, substr(s, 1, 3), $3, $4; n++ } }
    END { if (n) print ";" }'
  echo "COMMIT;"
}

expected_counts() {
  local p c s
  p=$(grep -vc '^#' "$REF/provinces.csv")
  c=$(grep -vc '^#' "$REF/cities.csv")
  s=$(grep -v '^#' "$REF/segments.csv" | awk -F, '{n += $2 - $1 + 1} END {print n}')
  echo "$p $c $s"
}

want="$(expected_counts)"
stale=()
for db in $(haoka_databases); do
  have="$(mysql_root -N -B "$db" -e 'SELECT (SELECT COUNT(*) FROM province), (SELECT COUNT(*) FROM city), (SELECT COUNT(*) FROM segment)' | tr '\t' ' ')"
  [ "$have" = "$want" ] || stale+=("$db")
done
if [ ${#stale[@]} -eq 0 ]; then
  unchanged "reference data (provinces, cities, segments: $want) on every haoka database"
else
  sql="$(reference_sql)"
  for db in "${stale[@]}"; do
    mysql_root "$db" <<<"$sql"
  done
  changed "loaded reference data ($want) into ${stale[*]}"
fi
