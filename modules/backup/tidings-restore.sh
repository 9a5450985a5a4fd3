# Restore a tidings-backup archive into DATA_DIR. The archive is checked first
# (readable to the end, made by tidings-backup, every database passing SQLite's
# integrity check) in a staging directory; only then is the current data moved
# aside (kept as DATA_DIR.before-restore-STAMP) and the restored copy put in place.
# The services must be stopped (the NixOS wrapper does it).
# Usage: tidings-restore ARCHIVE DATA_DIR
set -euo pipefail

archive=${1:?usage: tidings-restore ARCHIVE DATA_DIR}
data=${2:?usage: tidings-restore ARCHIVE DATA_DIR}
data=${data%/}

[ -f "$archive" ] || { echo "tidings-restore: no archive at $archive" >&2; exit 1; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
staging=$(mktemp -d "$(dirname "$data")/.tidings-restore-$stamp.XXXXXX")
trap 'rm -rf "$staging"' EXIT
chmod 0700 "$staging"

if ! tar -C "$staging" -xzf "$archive"; then
  echo "tidings-restore: $archive is damaged or incomplete; nothing was changed" >&2
  exit 1
fi
if ! head -n1 "$staging/.tidings-backup" 2>/dev/null | grep -qx 'tidings-backup 1'; then
  echo "tidings-restore: $archive was not made by tidings-backup; nothing was changed" >&2
  exit 1
fi
(cd "$staging" && find . -name '*.sqlite' -type f -print0) | while IFS= read -r -d '' db; do
  result=$(sqlite3 "$staging/$db" 'PRAGMA integrity_check;' 2>&1 || true)
  if [ "$result" != ok ]; then
    echo "tidings-restore: ${db#./} in $archive fails its integrity check ($result); nothing was changed" >&2
    exit 1
  fi
done
rm -f "$staging/.tidings-backup"

if [ -e "$data" ]; then
  mv "$data" "$data.before-restore-$stamp"
  echo "tidings-restore: the previous data is kept in $data.before-restore-$stamp"
fi
mv "$staging" "$data"
trap - EXIT
echo "tidings-restore: restored $archive into $data"
