#!/usr/bin/env bash
# Make the pgvector extension ("vector") available in the local PostgreSQL
# cluster and create it in the target database.
#
#   scripts/setup-pgvector.sh            # uses $DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test
#
# - Starts the local cluster if it is not accepting connections.
# - Fast path: if the extension is already installed, only runs CREATE EXTENSION.
# - Otherwise installs postgresql-<major>-pgvector from apt if such a package exists,
#   else builds pgvector from Debian's own source package (suite trixie) against
#   postgresql-server-dev-<major>.
# - Quiet on success (one line); on failure prints the log to stderr and exits 1.
#   SETUP_PGVECTOR_KEEP_LOG=1 keeps the log of a successful run too.
#
# Needs root for the install/build path (apt-get, make install). Idempotent; safe
# to run twice in a row or concurrently (the build path is serialised by a lock).
set -Eeuo pipefail

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

DB_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
SOURCE_SUITE="${PGVECTOR_SOURCE_SUITE:-trixie}"
LOCK_FILE="/run/lock/ct-pipeline-setup-pgvector.lock"
[[ -d /run/lock ]] || LOCK_FILE="/tmp/ct-pipeline-setup-pgvector.lock"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/setup-pgvector.XXXXXX")"
chmod 0755 "$WORK" # apt downloads as user _apt and needs to reach its target dirs
LOG="$WORK/setup.log"
: >"$LOG"

cleanup() {
  local rc=$?
  if [[ $rc -eq 0 && "${SETUP_PGVECTOR_KEEP_LOG:-0}" != 1 ]]; then
    rm -rf "$WORK"
  elif [[ $rc -eq 0 ]]; then
    echo "setup-pgvector: log kept at $LOG" >&2
  fi
}
trap cleanup EXIT

die() {
  # die may run in a command substitution's subshell: leave a mark so the
  # parent's ERR trap does not report the same failure again.
  if [[ -e "$WORK/.died" ]]; then exit 1; fi
  : >"$WORK/.died"
  {
    echo "setup-pgvector: ERROR: $*"
    if [[ -s "$LOG" ]]; then
      echo "---- last 80 lines of $LOG ----"
      tail -n 80 "$LOG"
      echo "---- end of log (full log kept at $LOG) ----"
    fi
  } >&2
  exit 1
}
trap 'die "unexpected failure at line $LINENO: $BASH_COMMAND"' ERR

log() { echo "[$(date +%H:%M:%S)] $*" >>"$LOG"; }

# run DESCRIPTION CMD...: run quietly (output to the log, no stdin); die on failure.
run() {
  local desc="$1"; shift
  log "+ $*"
  "$@" </dev/null >>"$LOG" 2>&1 || die "$desc failed (exit $?): $*"
}

# try CMD...: like run, but return the status instead of dying.
try() {
  log "+ $*"
  "$@" </dev/null >>"$LOG" 2>&1
}

psql_q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB_URL" "$@" </dev/null; }

# ---------------------------------------------------------------- cluster ---

db_host() { # host part of the URL ("" for the default socket)
  local rest="${DB_URL#*://}"
  rest="${rest%%[/?]*}"
  rest="${rest##*@}"
  if [[ "$rest" == \[* ]]; then rest="${rest%%]*}"; echo "${rest#[}"; else echo "${rest%%:*}"; fi
}

is_local_host() {
  case "$(db_host)" in
    "" | localhost | 127.* | ::1 | /*) return 0 ;;
    *) return 1 ;;
  esac
}

db_port() {
  if [[ "$DB_URL" =~ :([0-9]+)(/|\?|$) ]]; then echo "${BASH_REMATCH[1]}"; else echo 5432; fi
}

is_ready() { pg_isready -q -d "$DB_URL" </dev/null >/dev/null 2>&1; }

wait_ready() { # wait_ready SECONDS
  local deadline=$((SECONDS + $1))
  until is_ready; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# Print "<version> <name> <status>" of the local cluster serving the target port
# (without pg_lsclusters: the newest /etc/postgresql/<ver>/main).
local_cluster() {
  local port ver name cport status
  port="$(db_port)"
  if command -v pg_lsclusters >/dev/null 2>&1; then
    while read -r ver name cport status _; do
      if [[ "$cport" == "$port" ]]; then echo "$ver $name $status"; return 0; fi
    done < <(pg_lsclusters -h 2>/dev/null)
    return 1
  fi
  ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$ver" ]] && { echo "$ver main unknown"; return 0; }
  return 1
}

ensure_running() {
  local rc=0 cl ver name status
  pg_isready -q -d "$DB_URL" </dev/null >/dev/null 2>&1 || rc=$?
  [[ $rc -eq 0 ]] && return 0
  # 1 = rejecting connections: starting up (e.g. restarted by a package upgrade).
  if [[ $rc -eq 1 ]] && wait_ready 60; then return 0; fi
  is_local_host || die "PostgreSQL is not accepting connections at $DB_URL (not a local host, so not starting a cluster)"
  cl="$(local_cluster)" || die "PostgreSQL is not accepting connections at $DB_URL and no local cluster on port $(db_port) was found (pg_lsclusters)"
  read -r ver name status <<<"$cl"
  # A cluster that is (still) online may be in the middle of a restart: give it a moment.
  if [[ "$status" == online* ]] && wait_ready 5; then return 0; fi
  log "cluster $ver/$name ($status) is not accepting connections; starting it"
  # "already running" (exit 2) is fine: we wait below either way.
  try pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || true
  wait_ready 60 || die "PostgreSQL cluster $ver/$name did not accept connections within 60 s (see /var/log/postgresql/postgresql-$ver-$name.log)"
}

# ------------------------------------------------------------------ apt -----

APT_OPTS=(-q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

apt_lists_present() {
  compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null
}

APT_UPDATED=0
apt_update() {
  ((APT_UPDATED)) && return 0
  run "apt-get update" apt-get -q -o DPkg::Lock::Timeout=300 update
  APT_UPDATED=1
}

# apt_install PKG...: install; if it fails on stale/missing lists, update and retry once.
apt_install() {
  apt_lists_present || apt_update
  if ! try apt-get "${APT_OPTS[@]}" install --no-install-recommends "$@"; then
    ((APT_UPDATED)) && die "apt-get install $* failed"
    apt_update
    run "apt-get install $*" apt-get "${APT_OPTS[@]}" install --no-install-recommends "$@"
  fi
}

apt_candidate() { # prints the candidate version of a binary package, or nothing
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

# The Debian archive base URI the machine's own apt sources use (same mirror host).
debian_mirror() {
  local uri f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    while read -r uri; do
      [[ "$uri" =~ ^https?://[^[:space:]]+/debian/?$ ]] && { echo "${uri%/}"; return 0; }
    done < <(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f")
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    while read -r uri; do
      [[ "$uri" =~ ^https?://[^[:space:]]+/debian/?$ ]] && { echo "${uri%/}"; return 0; }
    done < <(awk '$1 == "deb" || $1 == "deb-src" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; break } }' "$f")
  done
  echo "http://deb.debian.org/debian"
}

# ---------------------------------------------------------------- install ---

server_major() {
  local num
  num="$(psql_q -c 'show server_version_num' 2>>"$LOG")" || die "cannot query the server version at $DB_URL"
  [[ "$num" =~ ^[0-9]+$ ]] || die "unexpected server_version_num: '$num'"
  echo $((num / 10000))
}

extension_available() {
  [[ "$(psql_q -c "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'" 2>>"$LOG")" == "1" ]]
}

build_from_source() {
  local major="$1" mirror apt_dir srcdir pg_config
  pg_config="/usr/lib/postgresql/$major/bin/pg_config"

  log "no postgresql-$major-pgvector package; building from Debian's $SOURCE_SUITE source package"
  apt_install "postgresql-server-dev-$major" build-essential
  [[ -x "$pg_config" ]] || die "$pg_config not found after installing postgresql-server-dev-$major"
  # Installing server-dev may upgrade (and so stop or restart) the running server.
  ensure_running

  # A private apt configuration for the deb-src list: nothing is added to the
  # machine's apt sources, and its package lists stay untouched.
  mirror="$(debian_mirror)"
  log "using Debian mirror $mirror (from the machine's apt sources)"
  apt_dir="$WORK/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$WORK/src"
  echo "deb-src $mirror $SOURCE_SUITE main" >"$apt_dir/sources.list"
  chmod -R a+rX "$apt_dir"
  chown -R _apt "$apt_dir/lists/partial" "$WORK/src" 2>/dev/null || true
  local src_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "Acquire::Check-Valid-Until=false"
  )
  run "apt-get update ($SOURCE_SUITE sources)" apt-get -q "${src_opts[@]}" update
  run "apt-get source pgvector" env -C "$WORK/src" apt-get -q "${src_opts[@]}" source pgvector

  srcdir="$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)"
  [[ -n "$srcdir" && -f "$srcdir/Makefile" ]] || die "pgvector source was not unpacked in $WORK/src"
  log "building $srcdir"
  # OPTFLAGS="": the default -march=native yields a .so that may not load on another CPU.
  # Run from our Makefile (`make test`), the outer make's flags (--no-builtin-rules, -j, ...) arrive in
  # MAKEFLAGS and would reach pgvector's build, which needs the built-in %.o: %.c rule: drop them.
  unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS
  run "make pgvector" make -C "$srcdir" -j"$(nproc 2>/dev/null || echo 2)" OPTFLAGS="" PG_CONFIG="$pg_config"
  run "make install pgvector" make -C "$srcdir" OPTFLAGS="" PG_CONFIG="$pg_config" install
}

install_extension() {
  local major="$1" candidate
  # Serialise installs between concurrent runs; re-check once we hold the lock.
  exec 9>"$LOCK_FILE"
  flock -w 900 9 || die "timed out waiting for another setup-pgvector run (lock $LOCK_FILE)"
  if [[ "$FORCE_REINSTALL" != 1 ]] && extension_available; then
    log "installed meanwhile by another run"
    exec 9>&-
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "pgvector is not installed and installing it needs root (apt-get, make install); rerun as root"

  apt_lists_present || apt_update
  candidate="$(apt_candidate "postgresql-$major-pgvector")"
  if [[ -n "$candidate" ]]; then
    log "installing postgresql-$major-pgvector $candidate from apt"
    apt_install "postgresql-$major-pgvector"
    ensure_running
  else
    build_from_source "$major"
  fi
  exec 9>&-
}

# ------------------------------------------------------------------- main ---

command -v psql >/dev/null 2>&1 || die "psql not found (install postgresql-client)"
command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found (install postgresql-client)"

ensure_running
MAJOR="$(server_major)"
log "server major version $MAJOR"

FORCE_REINSTALL=0
if ! extension_available; then
  install_extension "$MAJOR"
  extension_available || die "pgvector was installed but the server does not list the 'vector' extension (server $MAJOR; check the PostgreSQL version the files went to)"
  INSTALLED_NOW=1
else
  INSTALLED_NOW=0
fi

# Create the extension and exercise it (this also loads vector.so, so a control
# file without a working library is caught here).
check_sql="CREATE EXTENSION IF NOT EXISTS vector;
SELECT extversion || ' ' || current_database() FROM pg_extension WHERE extname = 'vector'
  AND ('[1,2,3]'::vector <=> '[1,2,4]'::vector) IS NOT NULL;"
if ! result="$(psql_q -c "$check_sql" 2>>"$LOG")"; then
  if ((INSTALLED_NOW)); then
    die "CREATE EXTENSION vector failed in $DB_URL"
  fi
  # Listed as available but unusable (e.g. a half-removed install): reinstall once.
  log "extension listed but not usable; reinstalling"
  FORCE_REINSTALL=1
  install_extension "$MAJOR"
  result="$(psql_q -c "$check_sql" 2>>"$LOG")" || die "CREATE EXTENSION vector failed in $DB_URL"
fi
read -r version dbname <<<"$result"
[[ -n "${version:-}" ]] || die "the vector extension is not present in the database after CREATE EXTENSION"
echo "pgvector $version ready in database $dbname"
