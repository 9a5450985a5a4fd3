# Back up a tidings data directory into one archive, while the services run.
# SQLite databases are copied with SQLite's online backup (a consistent snapshot
# even mid-write); Maildirs and keys are plain files. Prints the archive's path.
# Usage: tidings-backup DATA_DIR BACKUP_DIR [KEEP]
set -euo pipefail

data=${1:?usage: tidings-backup DATA_DIR BACKUP_DIR [KEEP]}
dest=${2:?usage: tidings-backup DATA_DIR BACKUP_DIR [KEEP]}
keep=${3:-7}

[ -d "$data" ] || { echo "tidings-backup: no data directory at $data" >&2; exit 1; }
mkdir -p "$dest"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
work=$(mktemp -d "$dest/.tidings-$stamp.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/data"

# Everything but the databases' side files and the run-time heartbeats.
tar -C "$data" --exclude=./run --exclude='*.sqlite-wal' --exclude='*.sqlite-shm' \
  --exclude='*.sqlite-journal' --exclude='*.lock' -cf - . | tar -C "$work/data" -xf -

# Then every database again, this time as a consistent copy.
(cd "$data" && find . -name '*.sqlite' -type f -print0) | while IFS= read -r -d '' db; do
  rm -f "$work/data/$db"
  sqlite3 "$data/$db" ".backup '$work/data/$db'"
done

printf 'tidings-backup 1\ncreated %s\nsource %s\n' "$stamp" "$data" > "$work/data/.tidings-backup"
tar -C "$work/data" -czf "$work/archive.tar.gz" .
# Published by a rename: a half-written archive never carries the final name.
mv "$work/archive.tar.gz" "$dest/tidings-$stamp.tar.gz"

# Keep the newest KEEP archives.
find "$dest" -maxdepth 1 -name 'tidings-*.tar.gz' -type f | sort -r | tail -n +"$((keep + 1))" |
  while IFS= read -r old; do rm -f -- "$old"; done

echo "$dest/tidings-$stamp.tar.gz"
